"""Tests for vlash_core.safety_limits: the one model of the executor's command pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_core.action_space import ActionSpace
from vlash_core.safety_limits import SafetyLimits


def test_absolute_target_is_clamped_to_position_then_to_one_step():
    limits = SafetyLimits.create(3, lower=-1.0, upper=1.0, max_step_per_tick=[0.1, 0.5, 2.0])
    command, clamped = limits.command(np.array([5.0, 0.2, -5.0]), np.zeros(3), "absolute")
    np.testing.assert_array_equal(command, [0.1, 0.2, -1.0])
    assert clamped
    command, clamped = limits.command(np.array([0.05, 0.2, -0.5]), np.zeros(3), "absolute")
    np.testing.assert_array_equal(command, [0.05, 0.2, -0.5])
    assert not clamped


def test_delta_is_added_to_the_previous_command():
    limits = SafetyLimits.create(2, lower=-1.0, upper=1.0, max_step_per_tick=0.3)
    previous = np.array([0.9, -0.2])
    command, clamped = limits.command(np.array([0.2, -0.5]), previous, ActionSpace.DELTA)
    np.testing.assert_allclose(command, [1.0, -0.5])
    assert clamped


def test_commands_chain_each_step_from_the_last_one():
    limits = SafetyLimits.create(1, max_step_per_tick=0.25)
    rows = limits.commands(np.zeros(1), np.array([[1.0], [1.0], [0.0], [0.6]]), "absolute")
    np.testing.assert_allclose(rows[:, 0], [0.25, 0.5, 0.25, 0.5])
    assert limits.commands(np.zeros(1), np.zeros((0, 1)), "delta").shape == (0, 1)


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    space=st.sampled_from(list(ActionSpace)),
    n=st.integers(1, 10),
    max_step=st.floats(1e-3, 1.0),
)
def test_every_command_is_within_the_limits_and_one_step_of_the_last(data, space, n, max_step):
    limits = SafetyLimits.create(
        2, lower=[-1.0, -0.5], upper=[1.0, 0.5], max_step_per_tick=max_step
    )
    previous = limits.hold_position(data.draw(arrays(np.float64, 2, elements=st.floats(-2, 2))))
    actions = data.draw(arrays(np.float64, (n, 2), elements=st.floats(-3, 3)))
    for command in limits.commands(previous, actions, space):
        assert np.all(command >= limits.lower) and np.all(command <= limits.upper)
        assert np.all(np.abs(command - previous) <= max_step + 1e-12)
        previous = command


def test_hold_position_clips_into_the_limits():
    limits = SafetyLimits.create(2, lower=-1.0, upper=1.0)
    np.testing.assert_array_equal(limits.hold_position([1.5, -0.3]), [1.0, -0.3])
    with pytest.raises(ValueError, match="position must be finite"):
        limits.hold_position([np.inf, 0.0])


def test_from_velocity_is_speed_times_period():
    limits = SafetyLimits.from_velocity(
        lower=[-1, -2], upper=[1, 2], max_velocity=[3.0, 1.5], control_period_s=0.02, joint_count=2
    )
    np.testing.assert_allclose(limits.max_step, [0.06, 0.03])
    assert limits.is_finite and limits.joint_count == 2
    assert not SafetyLimits.create(2).is_finite
    with pytest.raises(ValueError, match="control_period_s must be finite and > 0"):
        SafetyLimits.from_velocity(
            lower=-1, upper=1, max_velocity=1.0, control_period_s=0.0, joint_count=1
        )


def test_limits_are_read_only():
    limits = SafetyLimits.create(2, lower=-1.0, upper=1.0)
    with pytest.raises(ValueError, match="read-only"):
        limits.lower[0] = 5.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"joint_count": 0}, "joint_count must be an integer >= 1"),
        ({"lower": [0.0, 2.0], "upper": 1.0}, "lower > upper for joint index 1: 2.0 > 1.0"),
        ({"max_step_per_tick": [0.1, 0.0]}, r"max_step_per_tick must be > 0, got \[0.1, 0.0\]"),
        ({"upper": [1.0, 1.0, 1.0]}, "upper must be a scalar or have 2 entries"),
        ({"lower": [np.nan, 0.0]}, "lower must not contain NaN"),
    ],
)
def test_validation(kwargs, match):
    options = {"joint_count": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        SafetyLimits.create(options.pop("joint_count"), **options)


@pytest.mark.parametrize("speed", [0.0, -1.0, math.inf])
def test_from_velocity_refuses_a_speed_limit_that_is_not_positive_and_finite(speed):
    with pytest.raises(ValueError, match=r"max_velocity must be in \(0, inf\) rad/s"):
        SafetyLimits.from_velocity(
            lower=-1.0, upper=1.0, max_velocity=[1.0, speed], control_period_s=0.1, joint_count=2
        )
