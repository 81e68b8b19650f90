"""Confidence intervals and rank statistics of closed-loop results (no ROS, no torch).

Shared by the simulator's evaluation and the benchmarks: every hit rate of the suite carries a
Wilson interval, every mean a normal-approximation interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Two-sided 95 % normal quantile for every confidence interval of the suite.
Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (exact bounds stay inside [0, 1])."""
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or n successes the exact bound is 0 or 1; rounding could put it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == trials else min(1.0, max(p, centre + half))
    return (low, high)


def mean_interval(values: Sequence[float], z: float = Z95) -> dict[str, float | int | None]:
    """Mean with a normal-approximation 95 % interval; None figures when there are no values."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    mean = statistics.fmean(values)
    half = z * statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}


def paired_ratio_interval(
    reference: Sequence[float], mine: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> dict[str, float | int | None]:
    """``mean(reference) / mean(mine)`` over paired samples, with a 95 % bootstrap interval.

    Pair ``i`` is one target measured both ways; resampling pairs keeps each target's two times
    together. The interval is the 2.5-97.5 percentile range of the resampled ratios.
    """
    import numpy as np

    x, y = np.asarray(reference, dtype=np.float64), np.asarray(mine, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need two 1-D samples of one length, got {x.shape} and {y.shape}")
    if x.size == 0:
        return {"n": 0, "ratio": None, "low": None, "high": None}
    if np.any(y <= 0) or np.any(x <= 0):
        raise ValueError("paired_ratio_interval needs positive samples")
    picks = np.random.default_rng(seed).integers(x.size, size=(resamples, x.size))
    ratios = x[picks].mean(axis=1) / y[picks].mean(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    ratio = float(x.mean() / y.mean())
    return {"n": int(x.size), "ratio": ratio, "low": float(low), "high": float(high)}


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equally long samples (average ranks for ties)."""
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"need two 1-D samples of one length >= 2, got {x.shape} and {y.shape}")

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(v.size)
        r[order] = np.arange(v.size, dtype=np.float64)
        # Tied values share the mean of the ranks they occupy.
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return (sums / counts)[inverse]

    rx, ry = ranks(x) - (x.size - 1) / 2, ranks(y) - (y.size - 1) / 2
    scale = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / scale if scale > 0 else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile (0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
