"""The README's journey with real nodes over real DDS and defaults only: record with the
launcher (plain and namespaced), convert the bags, fine-tune a few steps from the embedded
checkpoint, launch the new checkpoint, replay its run. Each step runs the command the README
shows, in a leased ROS domain, with its results in the test's directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vlash_policy.embedded import default_checkpoint_dir

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "scripts" / "vlash_launch.py"
FINETUNE_CONFIG = ROOT / "src" / "vlash_policy" / "config" / "finetune.yaml"
# Each launch: the policy loads (~10 s here, more under load), runs, and all nodes stop.
RECORD_S = "20"
DEPLOY_S = "15"
STEP_TIMEOUT_S = 240


def _run(env: dict[str, str], *cmd: str) -> str:
    """Run one step of the journey; its output, after checking it exited 0."""
    done = subprocess.run(
        [sys.executable, *cmd],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        start_new_session=True,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{output}"
    return done.stdout


def _launch(env: dict[str, str], results: Path, *args: str) -> Path:
    """Launch the sim profile with recording; check it was watchable and left nothing; its bag."""
    out = _run(env, str(LAUNCHER), "--record", "--results-dir", str(results), *args)
    for name in ("sim_arm", "executor", "policy", "recorder"):
        assert re.search(rf"^vlash_launch: {name} ready after [\d.]+ s", out, re.M), out
    # The live line; whether a "running" one falls inside the run depends on how long the
    # policy took to load on a busy machine, so any status line counts.
    assert re.search(r"^\[ *\d+ s\] \w+.* \| control [\d.-]+ Hz .* chunks", out, re.M), out
    summary = out[out.index("vlash_launch: summary") :]
    assert re.search(r"policy +[1-9]\d* chunks", summary) and "bag " in summary, out
    for pid in re.findall(r"started \w+ \(pid (\d+)\)", out):
        with pytest.raises(ProcessLookupError):
            os.killpg(int(pid), 0)  # the node's process group is gone, children included
    (bag,) = (results / "bags").iterdir()
    return bag


def test_record_convert_finetune_deploy_replay(ros_graph, tmp_path):
    env = {**ros_graph.env, "OMP_NUM_THREADS": "1"}
    plain = _launch(env, tmp_path / "plain", "--duration", RECORD_S)
    namespaced = _launch(env, tmp_path / "ns", "--duration", RECORD_S, "--namespace", "arm1")

    data = tmp_path / "data" / "my_task"
    out = _run(env, "-m", "vlash_policy.data.convert_bag", str(plain), str(namespaced), str(data))
    assert f"{namespaced} (namespace /arm1)" in out
    assert re.search(r"^wrote [1-9]\d* episode\(s\), \d+ frames, cameras \['front'\]", out, re.M)

    out = _run(
        env, "-m", "vlash_policy.training.finetune", "--config", str(FINETUNE_CONFIG),
        f"--dataset={data}", "--steps=2", f"--output_dir={tmp_path / 'outputs' / 'my_task'}",
    )  # fmt: skip
    assert f"finetune: starting from checkpoint {default_checkpoint_dir()}" in out
    (deploy,) = re.findall(r"^finetune: deploy it with: (.*)$", out, re.M)
    assert deploy.startswith("python scripts/vlash_launch.py --model ")
    checkpoint = Path(deploy.split("--model ", 1)[1])
    assert (checkpoint / "model.safetensors").is_file()

    model_args = deploy.split()[2:]  # the printed command's arguments: --model <checkpoint>
    deployed = _launch(env, tmp_path / "deployed", *model_args, "--duration", DEPLOY_S)
    out = _run(
        env, "-m", "vlash_policy.recording.replay", str(deployed), "--model", str(checkpoint),
        "--out", str(tmp_path / "replay"),
    )  # fmt: skip
    assert "matches the recording within float tolerance" in out, out
    assert (tmp_path / "replay" / "replay.json").is_file()
