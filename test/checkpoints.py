"""A tiny random VLA checkpoint for tests that start the real policy node.

Use it from a test module with ``pytest_plugins = ("checkpoints",)`` and a ``tiny_checkpoint``
argument. The checkpoint is built once per session: the default ``siglip_lm`` architecture
(SO-101 joint names, one 96 px camera ``front``, horizon 16) with random weights, and
normalization statistics centred on the simulated arm's home pose, so the denormalized random
actions stay near poses the arm can reach.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vlash_sim.random_checkpoint import random_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random checkpoint, shared by every test of the session."""
    return random_checkpoint(tmp_path_factory.mktemp("tiny_checkpoint"))
