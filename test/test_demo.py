"""`make demo` end to end: scripts/demo.sh runs the closed loop (15 s, tiny random checkpoint)
and ends with the summary table and the plot paths, with every promised file in its results and a
summary that is its bag's: targets shown and resolved, Δ per chunk, timing of every tick."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from vlash_policy.recording.run_report import RunData, format_summary, load_run, summarize

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
    kinds = [ln.split(": ", 1)[0] for ln in lines[-3:]]
    assert kinds == ["plot (joints)", "plot (latency)", "plot (hits)"], lines[-3:]
    for plot in (Path(ln.split(": ", 1)[1]) for ln in lines[-3:]):
        assert plot.parent == out and plot.suffix == ".png" and plot.stat().st_size > 0

    summary = json.loads((out / "summary.json").read_text())
    (bag,) = (out / "bags").iterdir()
    assert (bag / "metadata.yaml").is_file() and any(bag.glob("*.mcap"))
    assert {p.name for p in (next((out / "logs").iterdir())).glob("*.log")} >= {
        "sim_arm.log", "executor.log", "policy.log", "recorder.log"}  # fmt: skip
    _assert_summary_is_the_bags(summary, table, load_run(bag))


def _assert_summary_is_the_bags(summary: dict, table: list[str], run: RunData) -> None:
    """What the demo promises, read back from its bag: no wall-clock thresholds, since a loaded
    machine changes the numbers but not what they must be."""
    assert summary == json.loads(json.dumps(summarize(run)))  # the summary is the bag's
    assert summary["strategy"] == "vlash"

    # Targets were shown and each one ended hit, missed or still up; the bag holds their events.
    shown = summary["targets_shown"]
    assert shown > 0, summary
    outcomes = summary["targets_hit"] + summary["targets_missed"] + summary["targets_pending"]
    assert outcomes == shown
    assert (summary["hit_rate"] is None) == (
        summary["targets_hit"] + summary["targets_missed"] == 0
    )
    assert (summary["mean_time_to_hit_s"] is None) == (summary["targets_hit"] == 0)
    kinds = [event.kind for event in run.events]
    assert kinds.count("shown") >= shown
    assert kinds.count("hit") >= summary["targets_hit"]

    # The loop switched chunks, and each chunk reports its delay Δ (in control steps).
    assert summary["chunks"] >= summary["chunks_executed"] >= 2, summary
    delays = [int(chunk.delay_steps) for chunk in run.chunks]
    assert delays and min(delays) >= 0
    assert 0 <= summary["delay_steps_median"] <= summary["delay_steps_max"] == max(delays)

    # Every tick of the loop carries its timing; the rate is ticks over the loop's span.
    assert summary["ticks"] == len(run.loop_reports) > 1
    lateness = [float(report.tick_lateness) for report in run.loop_reports]
    assert all(math.isfinite(value) for value in lateness)
    p50, p99 = summary["tick_lateness_p50_ms"], summary["tick_lateness_p99_ms"]
    assert p50 <= p99 <= summary["tick_lateness_max_ms"] == 1e3 * max(lateness)
    span = summary["duration_s"]
    assert span > 0 and summary["control_rate_hz"] == (summary["ticks"] - 1) / span

    # The table shows those numbers (summary.txt is format_summary of summary.json).
    assert table == format_summary(summary).splitlines()
    rows = {row.split("  ", 1)[0].strip() for row in table}
    assert {"targets shown / hit / missed", "delay Δ median / max", "control rate"} <= rows, table
    assert any(row.startswith("tick lateness") for row in table), table


def test_demo_names_a_missing_checkpoint(tmp_path: Path) -> None:
    proc = _demo("--model", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path))
    assert proc.returncode == 1
    assert f"--model {tmp_path / 'nowhere'} is not a checkpoint directory" in proc.stderr
    assert not list(tmp_path.glob("demo_*"))  # nothing started, nothing written
