"""Tests for vlash_policy.rollforward (VLASH Sec. 4.1 future-state awareness)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_policy.action_space import ActionSpace
from vlash_policy.rollforward import (
    ExecutedAction,
    PlannedChunk,
    gather_rollout_actions,
    roll_forward,
)

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
    out = roll_forward(s, acts, action_space="delta", lower=[-1.0, -0.6], upper=[1.0, 0.6])
    # Joint 0: 0.8 -> 1.0 (saturated) -> 0.7; joint 1: -0.5 -> -0.6 -> -0.5.
    np.testing.assert_allclose(out, [0.7, -0.5])


def test_absolute_target_is_clamped_with_scalar_limits():
    out = roll_forward(
        np.zeros(3), np.array([[5.0, -5.0, 0.5]]), action_space="absolute", lower=-1, upper=1
    )
    np.testing.assert_allclose(out, [1.0, -1.0, 0.5])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n=st.integers(1, 5))
def test_clamped_result_stays_within_limits(data, n):
    s = data.draw(arrays(np.float64, 3, elements=st.floats(-1, 1)))
    acts = data.draw(arrays(np.float64, (n, 3), elements=finite))
    for space in ActionSpace:
        out = roll_forward(s, acts, action_space=space, lower=-1.0, upper=1.0)
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
        ({"lower": [0.0, 0.0, 0.0]}, ValueError, "lower must be a scalar or have shape"),
        ({"lower": 1.0, "upper": 0.0}, ValueError, "lower must be <= upper"),
        ({"action_space": "velocity"}, ValueError, "velocity"),
    ],
)
def test_roll_forward_validation(kwargs, exc, match):
    args = {"state": np.zeros(2), "actions": np.ones((1, 2)), "action_space": "delta"}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        roll_forward(args.pop("state"), args.pop("actions"), **args)


def _executed(step_to_value: dict[int, float], chunk_id: int = 1) -> dict[int, ExecutedAction]:
    return {
        step: ExecutedAction(chunk_id=chunk_id, index=i, action=np.array([v, -v]))
        for i, (step, v) in enumerate(sorted(step_to_value.items()))
    }


def test_gather_prefers_reported_then_planned():
    # Chunk 2 planned to start at step 10; steps 10, 11 reported; roll to step 14.
    planned = PlannedChunk(chunk_id=2, start_step=10, actions=np.arange(10.0).reshape(5, 2))
    executed = {
        10: ExecutedAction(chunk_id=2, index=0, action=np.array([100.0, 100.0])),
        11: ExecutedAction(chunk_id=2, index=1, action=np.array([101.0, 101.0])),
    }
    r = gather_rollout_actions(measured_step=10, target_step=14, executed=executed, planned=planned)
    assert r.steps.tolist() == [10, 11, 12, 13]
    assert r.executed.tolist() == [True, True, False, False]
    assert r.indices.tolist() == [0, 1, 2, 3]
    assert r.chunk_ids.tolist() == [2, 2, 2, 2]
    np.testing.assert_array_equal(r.actions, [[100, 100], [101, 101], [4, 5], [6, 7]])
    assert len(r) == 4


def test_gather_mixes_previous_chunk_reports_with_new_plan():
    # Steps 5, 6 ran the old chunk 1; the new chunk 2 takes over at step 7.
    executed = _executed({5: 1.0, 6: 2.0}, chunk_id=1)
    planned = PlannedChunk(chunk_id=2, start_step=7, actions=np.array([[3.0, -3.0], [4.0, -4.0]]))
    r = gather_rollout_actions(measured_step=5, target_step=9, executed=executed, planned=planned)
    assert r.chunk_ids.tolist() == [1, 1, 2, 2]
    s = roll_forward(np.zeros(2), r.actions, action_space="delta")
    np.testing.assert_allclose(s, [10.0, -10.0])


def test_gather_skips_steps_where_the_executor_holds():
    planned = PlannedChunk(chunk_id=3, start_step=0, actions=np.array([[1.0], [2.0]]))
    r = gather_rollout_actions(measured_step=1, target_step=5, executed={}, planned=planned)
    assert r.steps.tolist() == [1]
    np.testing.assert_array_equal(r.actions, [[2.0]])
    # Holding after exhaustion: ABSOLUTE keeps the last target, DELTA adds nothing.
    assert roll_forward(np.zeros(1), r.actions, action_space="absolute")[0] == 2.0
    assert roll_forward(np.zeros(1), r.actions, action_space="delta")[0] == 2.0


def test_gather_ignores_reports_outside_the_window_and_empty_cases():
    executed = _executed({3: 1.0, 9: 2.0})
    r = gather_rollout_actions(measured_step=4, target_step=9, executed=executed, planned=None)
    assert len(r) == 0
    assert r.actions.shape == (0, 0)
    r = gather_rollout_actions(
        measured_step=4, target_step=4, executed=executed, planned=None, action_dim=2
    )
    assert r.actions.shape == (0, 2)
    # An empty rollout leaves the state unchanged.
    np.testing.assert_array_equal(roll_forward(np.ones(2), r.actions, action_space="delta"), 1.0)


def test_gather_before_planned_start_is_skipped():
    planned = PlannedChunk(chunk_id=1, start_step=6, actions=np.ones((3, 1)))
    r = gather_rollout_actions(measured_step=4, target_step=8, executed={}, planned=planned)
    assert r.steps.tolist() == [6, 7]
    assert r.indices.tolist() == [0, 1]


def test_gather_validation():
    with pytest.raises(ValueError, match="target_step"):
        gather_rollout_actions(measured_step=5, target_step=4, executed={}, planned=None)
    planned = PlannedChunk(chunk_id=1, start_step=0, actions=np.ones((3, 2)))
    with pytest.raises(ValueError, match="action dimension"):
        gather_rollout_actions(
            measured_step=0, target_step=2, executed=_executed({0: 1.0}), planned=None, action_dim=3
        )
    with pytest.raises(ValueError, match=r"PlannedChunk\.actions must be 2-D"):
        PlannedChunk(chunk_id=1, start_step=0, actions=np.ones(3))
    with pytest.raises(ValueError, match=r"ExecutedAction\.index"):
        ExecutedAction(chunk_id=1, index=-1, action=np.ones(2))
    assert planned.actions.shape == (3, 2)
