"""A random-weight checkpoint of the default architecture for the simulated arm.

For development, smoke runs and the benchmarks that measure timing, not skill.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlash_sim.so101_env import HOME_POSITION

# Spread (rad) of the normalization rows of a random development checkpoint: its random actions
# stay within a few tenths of a radian of home, poses the arm can reach.
RANDOM_CHECKPOINT_SPREAD_RAD = 0.1


def random_checkpoint(directory: Path, *, horizon: int = 16, seed: int = 0) -> Path:
    """A random-weight default-architecture checkpoint for development and smoke runs.

    Its normalization centres actions and states on the arm's home pose, so its (meaningless)
    chunks stay where the arm can go.
    """
    from vlash_policy.data.normalization import FeatureStats, NormalizationStats
    from vlash_policy.model.config import VLAConfig
    from vlash_policy.model.tiny import save_random_checkpoint

    rng = np.random.default_rng(seed)
    rows = HOME_POSITION + RANDOM_CHECKPOINT_SPREAD_RAD * rng.standard_normal((64, 6))
    stats = NormalizationStats(state=FeatureStats.of(rows), action=FeatureStats.of(rows))
    config = VLAConfig(horizon=horizon)
    return save_random_checkpoint(directory, config, seed=seed, normalization=stats)
