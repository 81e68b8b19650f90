"""Tests for vlash_policy.timeline (VLASH Sec. 3 intervals and delay estimation)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_policy.timeline import (
    DelayEstimator,
    delay_steps_from_latencies,
    execution_interval,
    prediction_interval,
)


def test_intervals_match_paper_definitions():
    # VLASH Sec. 3: I_pred = [t, t+K), I_exec = [t+Δ, t+Δ+K).
    assert list(prediction_interval(10, 4)) == [10, 11, 12, 13]
    assert list(execution_interval(10, 3, 4)) == [13, 14, 15, 16]
    assert execution_interval(10, 0, 4) == prediction_interval(10, 4)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, 10_000), delay=st.integers(0, 50), horizon=st.integers(1, 100))
def test_execution_interval_is_prediction_interval_shifted_by_delay(t, delay, horizon):
    pred = prediction_interval(t, horizon)
    exe = execution_interval(t, delay, horizon)
    assert len(exe) == len(pred) == horizon
    assert [s - delay for s in exe] == list(pred)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": 0, "delay": -1, "horizon": 3}, "delay must be >= 0"),
        ({"t": 0, "delay": 1, "horizon": 0}, "horizon must be >= 1"),
        ({"t": 1.5, "delay": 1, "horizon": 3}, "t must be an integer"),
    ],
)
def test_interval_validation(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        execution_interval(**kwargs)


def test_exact_multiple_of_period_is_not_rounded_up():
    # 0.1 / (1/30) = 3.0000000000000004 in floating point; the delay must be 3 steps.
    assert delay_steps_from_latencies([0.1], control_period_s=1 / 30, max_steps=10) == 3


def test_known_sample_at_30hz():
    lat = [0.08, 0.09, 0.1]
    # p100 = 0.1 s -> 3 steps; p0 = 0.08 s -> 2.4 -> 3 steps; median 0.09 -> 2.7 -> 3.
    for p in (0, 50, 100):
        assert (
            delay_steps_from_latencies(lat, control_period_s=1 / 30, percentile=p, max_steps=10)
            == 3
        )
    # 0.12 s = 3.6 periods -> 4 steps.
    assert delay_steps_from_latencies([0.12], control_period_s=1 / 30, max_steps=10) == 4
    # 50 Hz, 0.05 s -> 2.5 -> 3 steps, plus a margin of 2 -> 5.
    assert (
        delay_steps_from_latencies([0.05], control_period_s=0.02, margin_steps=2, max_steps=10) == 5
    )


def test_percentile_selects_tail_latency():
    # 19 fast inferences and one slow outlier at 10 Hz: p50 -> 1 step, p100 -> 5 steps.
    lat = [0.05] * 19 + [0.45]
    assert delay_steps_from_latencies(lat, control_period_s=0.1, percentile=50, max_steps=9) == 1
    assert delay_steps_from_latencies(lat, control_period_s=0.1, percentile=100, max_steps=9) == 5


def test_delay_is_clipped_to_max_steps_and_zero_latency_gives_zero():
    assert delay_steps_from_latencies([2.0], control_period_s=0.01, max_steps=8) == 8
    assert delay_steps_from_latencies([0.0], control_period_s=0.01, max_steps=8) == 0


@settings(max_examples=25, deadline=None)
@given(
    latency=st.floats(0.0, 1.0),
    hz=st.sampled_from([10.0, 20.0, 30.0, 50.0, 100.0]),
    margin=st.integers(0, 3),
)
def test_delay_covers_the_latency(latency, hz, margin):
    period = 1.0 / hz
    steps = delay_steps_from_latencies(
        [latency], control_period_s=period, margin_steps=margin, max_steps=1000
    )
    base = steps - margin
    # Smallest number of whole periods that covers the latency (up to float slack).
    assert base * period >= latency - 1e-9
    assert base == 0 or (base - 1) * period < latency


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ([], {"control_period_s": 0.1, "max_steps": 5}, "non-empty"),
        ([0.1, -0.2], {"control_period_s": 0.1, "max_steps": 5}, "finite and >= 0"),
        ([math.nan], {"control_period_s": 0.1, "max_steps": 5}, "finite and >= 0"),
        ([0.1], {"control_period_s": 0.0, "max_steps": 5}, "control_period_s"),
        ([0.1], {"control_period_s": 0.1, "max_steps": 5, "percentile": 101}, "percentile"),
        ([0.1], {"control_period_s": 0.1, "max_steps": -1}, "max_steps"),
        ([0.1], {"control_period_s": 0.1, "max_steps": 5, "margin_steps": -1}, "margin_steps"),
    ],
)
def test_delay_from_latencies_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        delay_steps_from_latencies(args, **kwargs)


def test_estimator_initial_then_measured():
    est = DelayEstimator(control_period_s=1 / 30, max_steps=10, percentile=100, initial_delay=2)
    assert est.delay_steps == 2
    for lat in [0.08, 0.09, 0.1]:
        est.record(lat)
    assert est.latencies == (0.08, 0.09, 0.1)
    assert est.delay_steps == 3


def test_estimator_window_drops_old_samples():
    est = DelayEstimator(control_period_s=0.1, max_steps=20, window=3, percentile=100)
    est.record(1.05)  # 11 steps while in the window
    assert est.delay_steps == 11
    for lat in [0.15, 0.15, 0.15]:
        est.record(lat)
    assert est.latencies == (0.15, 0.15, 0.15)
    assert est.delay_steps == 2


def test_estimator_fixed_delay_ignores_measurements():
    est = DelayEstimator(control_period_s=0.1, max_steps=20, fixed_delay=4)
    est.record(1.5)
    assert est.delay_steps == 4
    assert est.latencies == (1.5,)


def test_estimator_margin_and_clip():
    est = DelayEstimator(control_period_s=0.1, max_steps=5, margin_steps=1, percentile=100)
    est.record(0.25)
    assert est.delay_steps == 4
    est.record(3.0)
    assert est.delay_steps == 5


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf])
def test_estimator_rejects_bad_latency(bad):
    est = DelayEstimator(control_period_s=0.1, max_steps=5)
    with pytest.raises(ValueError, match="latency_s"):
        est.record(bad)
    assert est.latencies == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fixed_delay": 6}, "fixed_delay 6 exceeds max_steps 5"),
        ({"initial_delay": 6}, "initial_delay 6 exceeds max_steps 5"),
        ({"window": 0}, "window must be >= 1"),
        ({"fixed_delay": -1}, "fixed_delay must be >= 0"),
    ],
)
def test_estimator_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayEstimator(control_period_s=0.1, max_steps=5, **kwargs)
