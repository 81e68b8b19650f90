"""`make demo` end to end: scripts/demo.sh runs the closed loop (15 s, tiny random checkpoint)
and ends with the summary table and the plot paths, with every promised file in its results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ("checkpoints",)
# Bounded: policy loading (~10 s, more under load) + 15 s loop + shutdown and report.
TIMEOUT_S = 600


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_demo_runs_the_loop_and_reports(tiny_checkpoint: Path, tmp_path: Path) -> None:
    model = str(tiny_checkpoint)
    proc = _demo("--duration", "15", "--model", model, "--results-dir", str(tmp_path))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    # Live progress: one line per second (stdout is not a terminal here) with the loop clock.
    assert any(" loop " in ln and "chunks" in ln and "targets" in ln for ln in lines), proc.stdout

    (out,) = tmp_path.glob("demo_*")
    assert f"results: {out}" in lines
    # It ends with the summary table (as in summary.txt), then one line per plot, each an
    # existing PNG in `out`.
    table = (out / "summary.txt").read_text().splitlines()
    assert lines[-3 - len(table) : -3] == table
    assert any(row.startswith("control rate") for row in table), table
    kinds = [ln.split(": ", 1)[0] for ln in lines[-3:]]
    assert kinds == ["plot (joints)", "plot (latency)", "plot (hits)"], lines[-3:]
    for plot in (Path(ln.split(": ", 1)[1]) for ln in lines[-3:]):
        assert plot.parent == out and plot.suffix == ".png" and plot.stat().st_size > 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"] == "vlash"
    assert summary["chunks_executed"] >= 2, summary  # the loop switched chunks
    assert summary["ticks"] > 0 and summary["control_rate_hz"] > 0
    (bag,) = (out / "bags").iterdir()
    assert (bag / "metadata.yaml").is_file() and any(bag.glob("*.mcap"))
    assert {p.name for p in (next((out / "logs").iterdir())).glob("*.log")} >= {
        "sim_arm.log", "executor.log", "policy.log", "recorder.log"}  # fmt: skip


def test_demo_names_a_missing_checkpoint(tmp_path: Path) -> None:
    proc = _demo("--model", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path))
    assert proc.returncode == 1
    assert f"--model {tmp_path / 'nowhere'} is not a checkpoint directory" in proc.stderr
    assert not list(tmp_path.glob("demo_*"))  # nothing started, nothing written
