"""Tests for vlash_core.rollforward (VLASH Sec. 4.1 future-state awareness)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_core.action_space import ActionSpace
from vlash_core.rollforward import (
    ExecutedAction,
    PlannedChunk,
    plan_at,
    roll_forward,
    roll_out,
)
from vlash_core.safety_limits import SafetyLimits

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def test_paper_figure_3c_example():
    # s3 = s1 + a1 + a2 for delta actions.
    s1 = np.array([0.5, -1.0])
    a = np.array([[0.1, 0.2], [0.3, -0.4]])
    np.testing.assert_allclose(roll_forward(s1, a, action_space=ActionSpace.DELTA), [0.9, -1.2])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(0, 6), d=st.integers(1, 4))
def test_delta_is_cumulative_sum(data, n, d):
    s = data.draw(arrays(np.float64, d, elements=finite))
    acts = data.draw(arrays(np.float64, (n, d), elements=finite))
    out = roll_forward(s, acts, action_space="delta")
    np.testing.assert_allclose(out, s + acts.sum(axis=0), atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), d=st.integers(1, 4))
def test_absolute_is_last_target(data, n, d):
    s = data.draw(arrays(np.float64, d, elements=finite))
    acts = data.draw(arrays(np.float64, (n, d), elements=finite))
    out = roll_forward(s, acts, action_space=ActionSpace.ABSOLUTE)
    np.testing.assert_array_equal(out, acts[-1])


@pytest.mark.parametrize("space", list(ActionSpace))
def test_no_actions_keeps_state_and_returns_copy(space):
    s = np.array([1.0, 2.0])
    out = roll_forward(s, np.zeros((0, 2)), action_space=space)
    np.testing.assert_array_equal(out, s)
    out[0] = 5.0
    assert s[0] == 1.0


def test_state_index_map_keeps_undriven_entries():
    # State = [j0, j1, gripper, v0]; the 2-D action drives j1 and j0 (in that order).
    s = np.array([1.0, 2.0, 0.7, 9.0])
    acts = np.array([[0.1, 1.0], [0.2, 2.0]])
    out = roll_forward(s, acts, action_space=ActionSpace.DELTA, state_index_map=[1, 0])
    np.testing.assert_allclose(out, [4.0, 2.3, 0.7, 9.0])
    out = roll_forward(s, acts, action_space=ActionSpace.ABSOLUTE, state_index_map=[1, 0])
    np.testing.assert_allclose(out, [2.0, 0.2, 0.7, 9.0])


def test_delta_clamps_each_step_to_joint_limits():
    s = np.array([0.0, 0.0])
    acts = np.array([[0.8, -0.5], [0.8, -0.5], [-0.3, 0.1]])
    limits = SafetyLimits.create(2, lower=[-1.0, -0.6], upper=[1.0, 0.6])
    out = roll_forward(s, acts, action_space="delta", limits=limits)
    # Joint 0: 0.8 -> 1.0 (saturated) -> 0.7; joint 1: -0.5 -> -0.6 -> -0.5.
    np.testing.assert_allclose(out, [0.7, -0.5])


def test_absolute_target_is_clamped_with_scalar_limits():
    limits = SafetyLimits.create(3, lower=-1, upper=1)
    out = roll_forward(
        np.zeros(3), np.array([[5.0, -5.0, 0.5]]), action_space="absolute", limits=limits
    )
    np.testing.assert_allclose(out, [1.0, -1.0, 0.5])


@pytest.mark.parametrize("space", list(ActionSpace))
def test_step_limit_binds_from_the_previous_command(space):
    # The executor moves each joint at most max_step per tick from its previous command.
    limits = SafetyLimits.create(2, lower=-1, upper=1, max_step_per_tick=[0.1, 0.5])
    acts = np.array([[0.8, -0.8], [0.8, -0.8]])
    out = roll_forward(np.zeros(2), acts, action_space=space, limits=limits)
    np.testing.assert_allclose(out, [0.2, -1.0] if space is ActionSpace.DELTA else [0.2, -0.8])
    start = np.array([0.5, 0.5])
    out = roll_forward(
        np.zeros(2), acts[:1], action_space=space, limits=limits, previous_command=start
    )
    np.testing.assert_allclose(out, [0.6, 0.0])  # both targets are more than a step away


def test_measured_state_outside_the_limits_is_seeded_at_the_limit():
    limits = SafetyLimits.create(1, lower=-1, upper=1, max_step_per_tick=0.1)
    out = roll_forward(np.array([1.5]), np.array([[0.0]]), action_space="delta", limits=limits)
    np.testing.assert_array_equal(out, [1.0])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(1, 5))
def test_clamped_result_stays_within_limits(data, n):
    s = data.draw(arrays(np.float64, 3, elements=st.floats(-1, 1)))
    acts = data.draw(arrays(np.float64, (n, 3), elements=finite))
    for space in ActionSpace:
        limits = SafetyLimits.create(3, lower=-1.0, upper=1.0, max_step_per_tick=0.3)
        out = roll_forward(s, acts, action_space=space, limits=limits)
        assert np.all(out >= -1.0) and np.all(out <= 1.0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"state": np.zeros((2, 2))}, ValueError, "state must be 1-D"),
        ({"state": np.array([np.nan, 0.0])}, ValueError, "state must be finite"),
        ({"actions": np.zeros(2)}, ValueError, "actions must be 2-D"),
        ({"actions": np.array([[np.inf, 0.0]])}, ValueError, "actions must be finite"),
        ({"state": np.zeros(3)}, ValueError, "state_index_map is required"),
        ({"state_index_map": [0]}, ValueError, "one entry per action dimension"),
        ({"state_index_map": [0, 2]}, ValueError, r"in \[0, 2\)"),
        ({"state_index_map": [1, 1]}, ValueError, "unique"),
        ({"state_index_map": [0.0, 1.0]}, TypeError, "integers"),
        ({"limits": SafetyLimits.create(3)}, ValueError, "limits cover 3 joints"),
        ({"previous_command": np.zeros(3)}, ValueError, r"previous_command must have shape \(2,\)"),
        (
            {"previous_command": np.array([np.nan, 0])},
            ValueError,
            "previous_command must be finite",
        ),
        ({"action_space": "velocity"}, ValueError, "velocity"),
    ],
)
def test_roll_forward_validation(kwargs, exc, match):
    args = {"state": np.zeros(2), "actions": np.ones((1, 2)), "action_space": "delta"}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        roll_forward(args.pop("state"), args.pop("actions"), **args)


def _executed(step_to_command: dict[int, float], chunk_id: int = 1) -> dict[int, ExecutedAction]:
    return {
        step: ExecutedAction(chunk_id=chunk_id, index=i, command=np.array([v, -v]))
        for i, (step, v) in enumerate(sorted(step_to_command.items()))
    }


UNLIMITED = SafetyLimits.create(2)


def _roll_out(**kwargs):
    options = dict(
        reported_step=None,
        executed={},
        plans=[],
        command_in_force=np.zeros(2),
        action_space="absolute",
        limits=UNLIMITED,
    )
    options.update(kwargs)
    return roll_out(**options)


def test_roll_out_takes_reports_then_runs_the_plan_from_the_command_in_force():
    # Chunk 2 planned from step 10; steps 10, 11 reported; roll to step 14.
    plan = PlannedChunk(chunk_id=2, start_step=10, actions=np.arange(10.0).reshape(5, 2))
    executed = {
        10: ExecutedAction(chunk_id=2, index=0, command=np.array([100.0, 100.0])),
        11: ExecutedAction(chunk_id=2, index=1, command=np.array([101.0, 101.0])),
    }
    r = _roll_out(
        first_step=10,
        end_step=14,
        reported_step=11,
        executed=executed,
        plans=[plan],
        command_in_force=np.array([101.0, 101.0]),
        action_space="delta",
    )
    assert r.steps.tolist() == [10, 11, 12, 13]
    assert r.executed.tolist() == [True, True, False, False]
    assert r.indices.tolist() == [0, 1, 2, 3]
    assert r.chunk_ids.tolist() == [2, 2, 2, 2]
    np.testing.assert_array_equal(r.commands, [[100, 100], [101, 101], [105, 106], [111, 113]])
    assert len(r) == 4


def test_roll_out_clamps_planned_steps_like_the_executor():
    limits = SafetyLimits.create(2, lower=-1, upper=1, max_step_per_tick=0.25)
    plan = PlannedChunk(chunk_id=1, start_step=0, actions=np.full((3, 2), 5.0))
    r = _roll_out(first_step=0, end_step=3, plans=[plan], limits=limits)
    np.testing.assert_array_equal(r.commands, [[0.25, 0.25], [0.5, 0.5], [0.75, 0.75]])


def test_roll_out_mixes_previous_chunk_reports_with_new_plan():
    # Steps 5, 6 ran the old chunk 1; the new chunk 2 takes over at step 7.
    executed = _executed({5: 1.0, 6: 2.0}, chunk_id=1)
    plan = PlannedChunk(chunk_id=2, start_step=7, actions=np.array([[3.0, -3.0], [4.0, -4.0]]))
    r = _roll_out(
        first_step=5,
        end_step=9,
        reported_step=6,
        executed=executed,
        plans=[plan],
        command_in_force=np.array([2.0, -2.0]),
        action_space="delta",
    )
    assert r.chunk_ids.tolist() == [1, 1, 2, 2]
    np.testing.assert_allclose(r.commands[-1], [9.0, -9.0])


def test_roll_out_skips_steps_where_the_executor_holds():
    plan = PlannedChunk(chunk_id=3, start_step=0, actions=np.array([[1.0, 1.0], [2.0, 2.0]]))
    # Step 1 (unreported) runs the plan; after the plan the robot holds.
    r = _roll_out(first_step=1, end_step=5, plans=[plan])
    assert r.steps.tolist() == [1]
    np.testing.assert_array_equal(r.commands, [[2.0, 2.0]])
    # Reported steps without an entry held, whatever the plan says.
    r = _roll_out(first_step=0, end_step=2, reported_step=1, plans=[plan])
    assert len(r) == 0
    assert r.commands.shape == (0, 2)


def test_plan_at_follows_the_executors_switching():
    old = PlannedChunk(chunk_id=1, start_step=0, actions=np.ones((10, 1)))
    waiting = PlannedChunk(chunk_id=2, start_step=5, actions=np.ones((2, 1)))
    fresher = PlannedChunk(chunk_id=3, start_step=4, actions=np.ones((2, 1)))
    assert plan_at([old], -1) is None
    assert plan_at([old, waiting], 4)[0] is old  # chunk 2 waits for step 5
    assert plan_at([old, waiting], 5) == (waiting, 0)
    assert plan_at([old, waiting], 7) is None  # exhausted: hold, no fall-back to chunk 1
    # Chunk 3 starts at 4 and supersedes chunk 2 (start 5), as the executor drops it.
    assert plan_at([old, waiting, fresher], 5) == (fresher, 1)


def test_roll_out_validation():
    with pytest.raises(ValueError, match="end_step"):
        _roll_out(first_step=5, end_step=4)
    with pytest.raises(ValueError, match=r"command_in_force must have shape \(2,\)"):
        _roll_out(first_step=0, end_step=1, command_in_force=np.zeros(3))
    with pytest.raises(ValueError, match=r"step 0: reported command has shape \(3,\)"):
        executed = {0: ExecutedAction(chunk_id=1, index=0, command=np.ones(3))}
        _roll_out(first_step=0, end_step=1, reported_step=0, executed=executed)
    with pytest.raises(ValueError, match=r"PlannedChunk\.actions must be 2-D"):
        PlannedChunk(chunk_id=1, start_step=0, actions=np.ones(3))
    with pytest.raises(ValueError, match=r"ExecutedAction\.index"):
        ExecutedAction(chunk_id=1, index=-1, command=np.ones(2))
    with pytest.raises(ValueError, match=r"ExecutedAction\.command must be finite"):
        ExecutedAction(chunk_id=1, index=0, command=np.array([np.inf]))
