"""LeRobotPolicy: a LeRobot SmolVLA checkpoint behind ChunkPolicy, through the worker process.

The bridge must not change the numbers: on the same frames, state, task and noise its chunk
equals LeRobot's own ``predict_action_chunk`` + postprocessing, computed directly in the LeRobot
environment (lerobot_backend.direct). The checkpoint is a tiny random SmolVLA built offline
(lerobot_backend.tiny_smolvla). Needs ``.venv-lerobot`` (``make lerobot-env``); the tests that
do are skipped without it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlash_policy.lerobot_backend.client import (
    LeRobotPolicy,
    LeRobotWorkerError,
    find_lerobot_python,
    run_lerobot_module,
    sampling_noise,
)
from vlash_policy.lerobot_backend.protocol import read_message, write_message
from vlash_policy.policy_interface import ChunkPolicy

try:
    LEROBOT_PYTHON = find_lerobot_python()
    MISSING_REASON = ""
except FileNotFoundError as missing:
    LEROBOT_PYTHON = None
    MISSING_REASON = str(missing)
needs_lerobot_env = pytest.mark.skipif(LEROBOT_PYTHON is None, reason=MISSING_REASON)

STATE_DIM, ACTION_DIM, CHUNK, IMAGE = 6, 6, 16, 64
CAMERAS = {"wrist": "observation.images.front"}
TASK = "pick the red cube"
SEED = 7
# One torch thread in the worker and in the direct run: on a busy 2-core machine torch's
# default (all cores) spins against other processes and a 10 ms chunk can take seconds.
THREADS = 1


def _run_lerobot(module: str, *args: str) -> str:
    return run_lerobot_module(LEROBOT_PYTHON, module, *args, timeout_s=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_smolvla")
    _run_lerobot(
        "vlash_policy.lerobot_backend.tiny_smolvla",
        str(out),
        *("--state-dim", str(STATE_DIM), "--action-dim", str(ACTION_DIM)),
        *("--camera", "front", "--image-size", str(IMAGE), "--chunk-size", str(CHUNK)),
    )
    return out


@pytest.fixture(scope="module")
def policy(checkpoint):
    with LeRobotPolicy(
        checkpoint, python=LEROBOT_PYTHON, camera_keys=CAMERAS, seed=SEED, torch_threads=THREADS
    ) as p:
        yield p


@pytest.fixture(scope="module")
def observation():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (IMAGE, IMAGE, 3), dtype=np.uint8)
    return {"wrist": frame}, rng.standard_normal(STATE_DIM)


def test_find_lerobot_python_names_the_make_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="make lerobot-env"):
        find_lerobot_python(tmp_path)


def test_missing_interpreter_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"type": "smolvla"}))
    with pytest.raises(FileNotFoundError, match="make lerobot-env"):
        LeRobotPolicy(tmp_path, python=tmp_path / "no-venv" / "bin" / "python", camera_keys={})


def test_not_a_checkpoint_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a LeRobot checkpoint"):
        LeRobotPolicy(tmp_path, python="/usr/bin/python3", camera_keys={})


@needs_lerobot_env
def test_ready_describes_the_checkpoint(policy):
    assert isinstance(policy, ChunkPolicy)
    assert policy.policy_type == "smolvla"
    assert (policy.horizon, policy.n_action_steps) == (CHUNK, CHUNK)
    assert (policy.state_dim, policy.action_dim) == (STATE_DIM, ACTION_DIM)
    assert policy.camera_names == ["wrist"]
    assert policy.image_features == {"observation.images.front": (3, IMAGE, IMAGE)}
    # SmolVLA samples noise at max_action_dim (32) and cuts the padding after sampling.
    assert policy.noise_shape == (1, CHUNK, 32)


@needs_lerobot_env
def test_chunk_equals_lerobot_called_directly(policy, checkpoint, observation, tmp_path):
    images, state = observation
    policy.reseed(SEED)
    chunk = policy.predict_chunk(images, TASK, state, strategy="vlash")
    assert chunk.actions.shape == (CHUNK, ACTION_DIM) and chunk.actions.dtype == np.float64
    assert chunk.confidence is None and chunk.refined is None and chunk.draft is None
    assert 0.0 < chunk.timing.sfm_s <= chunk.timing.total_s

    noise = sampling_noise(np.random.default_rng(SEED), policy.noise_shape)
    request = {"observation.images.front": images["wrist"], "observation.state": state}
    with (tmp_path / "observation.msg").open("wb") as stream:
        write_message(stream, {"task": TASK}, {**request, "noise": noise})
    _run_lerobot(
        "vlash_policy.lerobot_backend.direct",
        *("--checkpoint", str(checkpoint), "--observation", str(tmp_path / "observation.msg")),
        *("--out", str(tmp_path / "direct.msg"), "--threads", str(THREADS)),
    )
    with (tmp_path / "direct.msg").open("rb") as stream:
        _, direct = read_message(stream)
    np.testing.assert_allclose(chunk.actions, direct["action"], rtol=0, atol=1e-6)


@needs_lerobot_env
def test_seed_noise_and_state_decide_the_chunk(policy, observation):
    images, state = observation
    policy.reseed(3)
    first = policy.predict_chunk(images, TASK, state).actions
    second = policy.predict_chunk(images, TASK, state).actions
    policy.reseed(3)
    again = policy.predict_chunk(images, TASK, state).actions
    policy.reseed(3)
    rolled = policy.predict_chunk(images, TASK, state + 0.5).actions
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, second)  # fresh noise per chunk
    assert not np.allclose(first, rolled)  # the state passed in is what the model sees


@needs_lerobot_env
def test_rtc_is_rejected(policy, observation):
    images, state = observation
    with pytest.raises(ValueError, match="guided sampling"):
        policy.predict_chunk(images, TASK, state, strategy="rtc")


@needs_lerobot_env
def test_bad_requests_are_errors_and_the_worker_carries_on(policy, observation):
    images, state = observation
    with pytest.raises(ValueError, match=r"observation.images.front must be a \(64, 64, 3\)"):
        policy.predict_chunk({"wrist": np.zeros((32, 32, 3), np.uint8)}, TASK, state)
    with pytest.raises(ValueError, match="missing cameras"):
        policy.predict_chunk({"front": images["wrist"]}, TASK, state)
    with pytest.raises(ValueError, match=r"state must have shape \(6,\)"):
        policy.predict_chunk(images, TASK, state[:3])
    with pytest.raises(ValueError, match="finite"):
        policy.predict_chunk(images, TASK, np.full(STATE_DIM, np.nan))
    assert policy.predict_chunk(images, TASK, state).actions.shape == (CHUNK, ACTION_DIM)


@needs_lerobot_env
def test_wrong_camera_key_names_unknown_and_unmapped_keys(checkpoint):
    with pytest.raises(ValueError) as raised:
        LeRobotPolicy(checkpoint, python=LEROBOT_PYTHON, camera_keys={"wrist": "observation.top"})
    message = str(raised.value)
    assert "unknown keys ['observation.top']" in message
    assert "not mapped ['observation.images.front']" in message


@needs_lerobot_env
def test_close_stops_the_worker(checkpoint):
    policy = LeRobotPolicy(
        checkpoint, python=LEROBOT_PYTHON, camera_keys=CAMERAS, torch_threads=THREADS
    )
    process = policy._process
    assert policy.ping() < 1.0
    policy.close()
    assert process.poll() is not None and policy.closed
    policy.close()  # idempotent


@needs_lerobot_env
def test_pi0_without_the_patched_transformers_says_why(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"type": "pi0"}))
    with pytest.raises(LeRobotWorkerError, match="fix/lerobot_openpi"):
        LeRobotPolicy(tmp_path, python=LEROBOT_PYTHON, camera_keys={})
