"""Replay: a bag whose chunks a seeded policy produced is reproduced exactly by an open-loop replay
with the same seed, and not with another; inputs are taken at the chunks' stamps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.stamps import ns_to_sec_nanosec
from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model import VLAConfig, tiny
from vlash_policy.model.checkpoint import build_default_model, save_checkpoint
from vlash_policy.policy_interface import FlowVLAPolicy
from vlash_policy.recording.bag_io import BagWriter, make_typestore
from vlash_policy.recording.random_messages import random_message
from vlash_policy.recording.replay import RecordedChunk, aligned_previous, parse_args, run

H, D = 5, 3
JOINTS = ["a", "b", "c"]
T0 = 1_700_000_000 * 10**9
TYPESTORE = make_typestore()
T = TYPESTORE.types


def tiny_config() -> VLAConfig:
    return tiny.tiny_config(
        text_layers=1,
        state_dim=D,
        num_cameras=1,
        camera_names=["front"],
        num_steps=2,
        joint_names=JOINTS,
    )


def _stats(mean: list[float], std: list[float]) -> FeatureStats:
    return FeatureStats(np.array(mean), np.array(std), -np.ones(D), np.ones(D), 5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model, tokenizer = build_default_model(tiny_config())
    stats = NormalizationStats(
        state=_stats([0.1, 0.2, 0.3], [2.0, 3.0, 4.0]),
        action=_stats([1.0, -1.0, 0.5], [0.5, 2.0, 3.0]),
    )
    return save_checkpoint(
        model, tmp_path_factory.mktemp("ckpt"), tokenizer=tokenizer, normalization=stats
    )


def _header(ns: int):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](*ns_to_sec_nanosec(ns)), frame_id=""
    )


def _image(ns: int, rgb: np.ndarray):
    msg = random_message(TYPESTORE, "sensor_msgs/msg/Image", np.random.default_rng(0))
    msg.header, msg.encoding, msg.is_bigendian = _header(ns), "rgb8", 0
    msg.height, msg.width, msg.step = rgb.shape[0], rgb.shape[1], rgb.shape[1] * 3
    msg.data = rgb.reshape(-1)
    return msg


def _joint_state(ns: int, positions: np.ndarray):
    # Another joint order plus an extra joint: replay must map by name.
    return T["sensor_msgs/msg/JointState"](
        header=_header(ns),
        name=["c", "extra", "a", "b"],
        position=np.array([positions[2], 9.0, positions[0], positions[1]]),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )


def _chunk(chunk_id: int, ns: int, strategy: str, actions: np.ndarray, refined):
    msg = random_message(TYPESTORE, "vlash_msgs/msg/ActionChunk", np.random.default_rng(chunk_id))
    msg.header, msg.chunk_id, msg.strategy = _header(ns), chunk_id, strategy
    msg.source_step, msg.start_step, msg.delay_steps = 10 * chunk_id, 10 * chunk_id + 2, 2
    msg.joint_names, msg.horizon, msg.action_dim = JOINTS, H, D
    msg.actions = actions.astype(np.float32).reshape(-1)
    msg.confidence = np.zeros(0, dtype=np.float32)
    msg.refined = np.zeros(0, dtype=bool) if refined is None else np.asarray(refined, dtype=bool)
    return msg


def _rolled(ns: int, step: int, measured: np.ndarray, rolled: np.ndarray):
    msg = random_message(TYPESTORE, "vlash_msgs/msg/RolledState", np.random.default_rng(step))
    msg.header, msg.measured_step, msg.target_step = _header(ns), step, step + 2
    msg.joint_names = JOINTS
    msg.measured_positions, msg.rolled_positions = measured, rolled
    return msg


def record_run(checkpoint: Path, path: Path, namespace: str = "") -> tuple[Path, list[np.ndarray]]:
    """A bag as the live node would leave it: chunks 1-4 from a seed-0 policy, 5-6 broken.

    ``namespace``: the launch namespace the topics are recorded in.
    """
    live = FlowVLAPolicy(checkpoint, seed=0)
    rng = np.random.default_rng(1)
    topics = {
        f"{namespace}/camera/image_raw": "sensor_msgs/msg/Image",
        f"{namespace}/joint_states": "sensor_msgs/msg/JointState",
        f"{namespace}/vlash/action_chunk": "vlash_msgs/msg/ActionChunk",
        f"{namespace}/vlash/rolled_state": "vlash_msgs/msg/RolledState",
    }
    produced = []
    with BagWriter(path, topics, typestore=TYPESTORE) as bag:
        # chunk 1, 2: vlash (rolled state); 3: sync with a RolledState (measured positions);
        # 4: sync without one (the synchronized joint state).
        for chunk_id, strategy in ((1, "vlash"), (2, "vlash"), (3, "sync"), (4, "sync")):
            ns = T0 + chunk_id * 100_000_000
            rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            measured = rng.standard_normal(D)
            rolled = measured + 0.1 * chunk_id
            state = rolled if strategy == "vlash" else measured
            result = live.predict_chunk(
                {"front": rgb}, TASK_INSTRUCTION, state, strategy=strategy, delay_steps=2
            )
            produced.append(result.actions)
            # A distractor frame 30 ms later: replay must use the frame of the chunk's stamp.
            bag.write_message(f"{namespace}/camera/image_raw", ns, _image(ns, rgb))
            bag.write_message(
                f"{namespace}/joint_states", ns + 1, _joint_state(ns + 2_000_000, measured)
            )
            later = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            bag.write_message(
                f"{namespace}/camera/image_raw", ns + 2, _image(ns + 30_000_000, later)
            )
            chunk = _chunk(chunk_id, ns, strategy, result.actions, result.refined)
            bag.write_message(f"{namespace}/vlash/action_chunk", ns + 3, chunk)
            if chunk_id < 4:
                message = _rolled(ns, 10 * chunk_id, measured, rolled)
                bag.write_message(f"{namespace}/vlash/rolled_state", ns + 4, message)
        # 5: its image was not recorded; 6: a vlash chunk whose RolledState is missing.
        ns = T0 + 500_000_000
        noise = rng.standard_normal((H, D))
        bag.write_message(
            f"{namespace}/vlash/action_chunk", ns, _chunk(5, ns, "vlash", noise, None)
        )
        ns = T0 + 600_000_000
        bag.write_message(f"{namespace}/camera/image_raw", ns, _image(ns, rgb))
        bag.write_message(f"{namespace}/joint_states", ns, _joint_state(ns, measured))
        bag.write_message(
            f"{namespace}/vlash/action_chunk", ns + 1, _chunk(6, ns, "vlash", noise, None)
        )
    return path, produced


@pytest.fixture(scope="module")
def recorded(checkpoint, tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    return record_run(checkpoint, tmp_path_factory.mktemp("run") / "bag")


def _replay(recorded, checkpoint, out: Path, *extra: str) -> dict:
    return run(
        parse_args([str(recorded[0]), "--model", str(checkpoint), "--out", str(out), *extra])
    )


def test_same_seed_reproduces_the_recorded_chunks(recorded, checkpoint, tmp_path):
    report = _replay(recorded, checkpoint, tmp_path / "out", "--seed", "0")
    _, produced = recorded
    assert [c["chunk_id"] for c in report["chunks"]] == [1, 2, 3, 4]
    assert report["summary"]["skipped"] == {
        "observation not recorded": 1,
        "no RolledState for a rolled-state chunk": 1,
    }
    scale = max(float(np.abs(a).max()) for a in produced)
    for entry in report["chunks"]:
        # Recorded actions are float32: only the rounding to float32 may differ.
        assert max(entry["max_abs_per_joint"]) <= 1e-6 * max(1.0, scale), entry
    saved = np.load(tmp_path / "out" / "replay_actions.npz")
    np.testing.assert_allclose(saved["replayed"], np.stack(produced), rtol=0, atol=0)
    on_disk = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert on_disk["summary"] == report["summary"] and report["summary"]["matches"]
    # A match plots the actions only: an error plot would show nothing but float rounding.
    assert report["plots"] == [str(tmp_path / "out" / "actions.png")]
    assert Path(report["plots"][0]).stat().st_size > 0


def test_another_seed_differs_and_is_deterministic(recorded, checkpoint, tmp_path, capsys):
    first = _replay(recorded, checkpoint, tmp_path / "a", "--seed", "1")
    second = _replay(recorded, checkpoint, tmp_path / "b", "--seed", "1")
    assert first["chunks"] == second["chunks"] and not first["summary"]["matches"]
    assert first["plots"] == [
        str(tmp_path / "a" / "actions.png"),
        str(tmp_path / "a" / "errors.png"),
    ]
    out = capsys.readouterr().out
    # The table names every joint in full, in the checkpoint's unit.
    assert "largest |replayed - recorded| per joint [rad]" in out
    assert "they differ from the recording" in out and "matches" not in out
    for entry in first["chunks"]:
        assert math.isfinite(entry["mse"]) and entry["mse"] > 1e-8
        assert len(entry["max_abs_per_joint"]) == D
    summary = first["summary"]
    mses = [e["mse"] for e in first["chunks"]]
    assert summary["mean_mse"] == pytest.approx(np.mean(mses))
    assert (
        summary["max_abs_per_joint"]
        == np.max([e["max_abs_per_joint"] for e in first["chunks"]], axis=0).tolist()
    )


def test_mse_and_max_abs_follow_their_definitions(recorded, checkpoint, tmp_path):
    _replay(recorded, checkpoint, tmp_path / "out", "--seed", "3", "--max-chunks", "2")
    report = json.loads((tmp_path / "out" / "replay.json").read_text())
    saved = np.load(tmp_path / "out" / "replay_actions.npz")
    assert saved["chunk_ids"].tolist() == [1, 2] == [c["chunk_id"] for c in report["chunks"]]
    for i, entry in enumerate(report["chunks"]):
        diff = saved["replayed"][i] - saved["recorded"][i]
        assert entry["mse"] == pytest.approx(float(np.mean(diff**2)), rel=1e-12)
        assert entry["max_abs_per_joint"] == pytest.approx(np.abs(diff).max(axis=0).tolist())


@pytest.mark.slow
def test_cli_runs_as_a_module(recorded, checkpoint, tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "vlash_policy.recording.replay", str(recorded[0])]
    cmd += ["--model", str(checkpoint), "--out", str(out), "--max-chunks", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"plot: {out / 'actions.png'}" in done.stdout
    assert "replayed 1 chunks of" in done.stdout
    assert "matches the recording within float tolerance" in done.stdout
    assert json.loads((out / "replay.json").read_text())["summary"]["replayed"] == 1
    missing = subprocess.run(
        [*cmd[:3], str(tmp_path / "nowhere"), "--model", str(checkpoint), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("nowhere is not a rosbag2 directory (no metadata.yaml)")
    no_model = subprocess.run(
        [*cmd[:4], "--model", str(tmp_path / "none"), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert no_model.returncode == 1
    assert (
        no_model.stderr.strip()
        == f"replay: checkpoint directory {tmp_path / 'none'} does not exist"
    )


def test_topics_follow_the_bag_namespace(checkpoint, tmp_path):
    """A namespaced run: chunks, rolled states, joint states and camera found in /arm1."""
    namespaced = record_run(checkpoint, tmp_path / "bag", "/arm1")
    report = _replay(namespaced, checkpoint, tmp_path / "out", "--seed", "0")
    assert [c["chunk_id"] for c in report["chunks"]] == [1, 2, 3, 4]
    assert report["summary"]["matches"]


def test_defaults_are_the_embedded_checkpoint_and_a_results_folder(recorded):
    args = parse_args([str(recorded[0])])
    assert args.model is None and args.out is None and args.image_topics is None


def _plan(chunk_id: int, start: int, rows: int) -> RecordedChunk:
    actions = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) + 100 * chunk_id
    return RecordedChunk(chunk_id, 0, start, start - 2, 2, "rtc", ("x", "y"), actions, False)


def test_aligned_previous_takes_the_newest_plan_per_step():
    c1, c2 = _plan(1, 0, 4), _plan(2, 3, 3)
    new = _plan(3, 2, 4)
    # step 2 from c1 (row 2); steps 3, 4, 5 from c2 (rows 0-2), the newer plan from its start.
    expected = np.stack([c1.actions[2], c2.actions[0], c2.actions[1], c2.actions[2]])
    np.testing.assert_array_equal(aligned_previous([c1, c2, new], new), expected)
    # Step 6 is not planned: the previous chunk stops there.
    np.testing.assert_array_equal(
        aligned_previous([c1, c2, _plan(3, 4, 4)], _plan(3, 4, 4)), c2.actions[1:]
    )
    assert aligned_previous([c1, c2], _plan(3, 7, 4)) is None
    # Later chunks never count as previous.
    assert aligned_previous([_plan(4, 0, 4)], _plan(3, 0, 4)) is None
