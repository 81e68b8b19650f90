"""A tiny random VLA checkpoint for tests that start the real policy node.

Use it from a test module with ``pytest_plugins = ("checkpoints",)`` and a ``tiny_checkpoint``
argument. The checkpoint is built once per session: the default ``siglip_lm`` architecture
(SO-101 joint names, one 96 px camera ``front``, horizon 16) with random weights, and
normalization statistics centred on the simulated arm's home pose, so the denormalized random
actions stay near poses the arm can reach.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The simulated SO-101's home pose (vlash_executor.sim.so101_env.HOME_POSITION), repeated here
# rather than imported so this module does not pull MuJoCo into the test process.
HOME = np.array([0.0, -0.9, 0.9, 0.9, 0.0, 0.0])
# Spread of the normalization rows: random actions land within a few tenths of a radian of home.
SPREAD_RAD = 0.1


def build_tiny_checkpoint(directory: Path, *, seed: int = 0) -> Path:
    """Write a random default-architecture checkpoint into ``directory``; returns it."""
    import torch

    from vlash_policy.data.normalization import FeatureStats, NormalizationStats
    from vlash_policy.model.checkpoint import build_default_model, save_checkpoint

    torch.manual_seed(seed)
    model, tokenizer = build_default_model()
    rows = HOME + SPREAD_RAD * np.random.default_rng(seed).standard_normal((64, HOME.size))
    stats = NormalizationStats(state=FeatureStats.of(rows), action=FeatureStats.of(rows))
    return save_checkpoint(model, directory, tokenizer=tokenizer, normalization=stats)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random checkpoint, shared by every test of the session."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_checkpoint"))
