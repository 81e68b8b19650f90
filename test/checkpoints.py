"""Tiny random checkpoints for tests that start the real policy node.

Use it from a test module with ``pytest_plugins = ("checkpoints",)`` and a ``tiny_checkpoint``
argument. The checkpoint is built once per session: the default ``siglip_lm`` architecture
(SO-101 joint names, one 96 px camera ``front``, horizon 16) with random weights, and
normalization statistics centred on the simulated arm's home pose, so the denormalized random
actions stay near poses the arm can reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vlash_policy.lerobot_backend.client import (
    find_lerobot_python,
    run_lerobot_module,
    sampling_noise,
)
from vlash_policy.lerobot_backend.protocol import read_message, write_message
from vlash_sim.random_checkpoint import random_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random checkpoint, shared by every test of the session."""
    return random_checkpoint(tmp_path_factory.mktemp("tiny_checkpoint"))


@dataclass(frozen=True)
class TinySmolVLA:
    """A tiny random SmolVLA saved the LeRobot way, and LeRobot called directly on it."""

    path: Path
    python: Path
    image_key: str

    def direct_chunk(
        self, *, image: np.ndarray, state: np.ndarray, task: str, draw: int, out_dir: Path
    ) -> np.ndarray:
        """LeRobot's own chunk for one observation, with the ``draw``-th noise of seed 0.

        Seed 0 is the policy node's default ``seed``; its LeRobotPolicy draws one noise per
        chunk it infers, in order.
        """
        config = json.loads((self.path / "config.json").read_text())
        generator = np.random.default_rng(0)
        shape = (1, config["chunk_size"], config["max_action_dim"])
        for _ in range(draw + 1):
            noise = sampling_noise(generator, shape)
        observation, result = out_dir / "observation.msg", out_dir / "direct.msg"
        with observation.open("wb") as stream:
            arrays = {self.image_key: image, "observation.state": state, "noise": noise}
            write_message(stream, {"task": task}, arrays)
        run_lerobot_module(
            self.python,
            "vlash_policy.lerobot_backend.direct",
            *("--checkpoint", str(self.path), "--observation", str(observation)),
            *("--out", str(result), "--threads", "1"),
        )
        with result.open("rb") as stream:
            return read_message(stream)[1]["action"]


@pytest.fixture(scope="session")
def tiny_smolvla(tmp_path_factory: pytest.TempPathFactory) -> TinySmolVLA:
    """A tiny SmolVLA for the simulated arm (6 joints, one 96 px camera), built offline.

    Needs the LeRobot environment (``make lerobot-env``; ``make test`` builds it).
    """
    try:
        python = find_lerobot_python()
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    out = tmp_path_factory.mktemp("tiny_smolvla")
    run_lerobot_module(
        python,
        "vlash_policy.lerobot_backend.tiny_smolvla",
        str(out),
        *("--camera", "front", "--image-size", "96", "--chunk-size", "16"),
    )
    return TinySmolVLA(out, python, "observation.images.front")
