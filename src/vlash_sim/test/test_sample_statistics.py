"""Confidence intervals and rank statistics of closed-loop results."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_sim import sample_statistics as stats


def test_wilson_interval_hand_computed():
    # 5 of 10: centre 0.5, half-width z*sqrt(0.025 + z²/400)/(1 + z²/10).
    z = stats.Z95
    half = z * math.sqrt(0.25 / 10 + z * z / 400) / (1 + z * z / 10)
    low, high = stats.wilson_interval(5, 10)
    assert low == pytest.approx(0.5 - half) and high == pytest.approx(0.5 + half)
    assert low == pytest.approx(0.2366, abs=1e-4)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.wilson_interval(0, 20)[0] == 0.0 and stats.wilson_interval(20, 20)[1] == 1.0


def test_wilson_interval_matches_the_textbook_example():
    # Wilson (1927) score interval for 8/10 at 95 %: [0.4902, 0.9433] (e.g. Newcombe 1998).
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert stats.wilson_interval(0, 5)[0] == 0.0 and stats.wilson_interval(5, 5)[1] == 1.0


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_rate(case):
    k, n = case
    low, high = stats.wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes <= trials"):
        stats.wilson_interval(3, 2)


def test_mean_interval_and_percentile():
    out = stats.mean_interval([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and out["n"] == 3
    assert out["high"] - 2.0 == pytest.approx(stats.Z95 * 1.0 / math.sqrt(3))
    assert stats.mean_interval([])["mean"] is None
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert stats.percentile([1.0, 2.0], 100) == 2.0
    with pytest.raises(ValueError, match="q must be"):
        stats.percentile([1.0], 101)


def test_spearman_ranks_monotone_relations_and_ties():
    assert stats.spearman([1, 2, 3, 4], [10, 20, 40, 80]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Hand-computed with average ranks: x ranks (1, 2.5, 2.5, 4), y ranks (1, 3, 2, 4).
    assert stats.spearman([1, 5, 5, 9], [0, 2, 1, 3]) == pytest.approx(0.9486833, abs=1e-6)
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="one length"):
        stats.spearman([1, 2], [1, 2, 3])


def test_paired_ratio_keeps_each_targets_two_times_together():
    # Every target is exactly twice as fast: every resample gives 2, so the interval is a point.
    same = stats.paired_ratio_interval([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert same == {"n": 3, "ratio": 2.0, "low": 2.0, "high": 2.0}
    # Ratio of means, not mean of ratios: (1 + 3) / (1 + 1) = 2 while the pair ratios are 1, 3.
    mixed = stats.paired_ratio_interval([1.0, 3.0], [1.0, 1.0])
    assert mixed["ratio"] == 2.0 and 1.0 <= mixed["low"] < 2.0 < mixed["high"] <= 3.0
    assert stats.paired_ratio_interval([], [])["ratio"] is None


def test_paired_ratio_refuses_unpaired_or_non_positive_samples():
    with pytest.raises(ValueError, match="one length"):
        stats.paired_ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        stats.paired_ratio_interval([1.0], [0.0])


def test_percentile_interpolates():
    assert stats.percentile([4.0, 1.0, 3.0, 2.0], 50.0) == 2.5
    assert stats.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95.0) == pytest.approx(4.8)
    assert stats.percentile([7.0], 95.0) == 7.0
