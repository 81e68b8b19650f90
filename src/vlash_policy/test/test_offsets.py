"""Tests for vlash_policy.offsets (VLASH Sec. 4.2 temporal-offset augmentation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_core.action_space import ActionSpace
from vlash_policy.offsets import all_offsets, offset_sample, sample_offsets


def _episode(n_steps: int = 6, dim: int = 2):
    # Recorded state of step k is k*10 + joint; action of step k is k + 0.1*joint.
    states = np.array([[10.0 * k + j for j in range(dim)] for k in range(n_steps)])
    actions = np.array([[k + 0.1 * j for j in range(dim)] for k in range(n_steps)])
    return states, actions


def test_sample_offsets_range_and_coverage():
    rng = np.random.default_rng(0)
    d = sample_offsets(3, 400, rng=rng)
    assert d.shape == (400,) and d.dtype == np.int64
    assert set(d.tolist()) == {0, 1, 2, 3}
    assert sample_offsets(0, 5, rng=rng).tolist() == [0] * 5
    assert sample_offsets(4, 0, rng=rng).shape == (0,)


def test_sample_offsets_is_reproducible_with_seed():
    a = sample_offsets(5, 20, rng=np.random.default_rng(7))
    b = sample_offsets(5, 20, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_all_offsets():
    assert all_offsets(0).tolist() == [0]
    assert all_offsets(4).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sample_offsets(-1, 3, rng=np.random.default_rng()), "max_offset must be >= 0"),
        (lambda: sample_offsets(2, -3, rng=np.random.default_rng()), "count must be >= 0"),
        (lambda: all_offsets(-2), "max_offset must be >= 0"),
    ],
)
def test_offsets_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_recorded_state_and_actions_shift_together():
    states, actions = _episode()
    s = offset_sample(
        states=states, actions=actions, t=1, offset=2, horizon=3, action_space="absolute"
    )
    assert s.offset == 2
    np.testing.assert_array_equal(s.state, states[3])
    np.testing.assert_array_equal(s.actions, actions[3:6])
    assert s.valid.tolist() == [True, True, True]


def test_offset_zero_is_standard_fine_tuning_sample():
    states, actions = _episode()
    s = offset_sample(states=states, actions=actions, t=2, offset=0, horizon=2, action_space=1)
    np.testing.assert_array_equal(s.state, states[2])
    np.testing.assert_array_equal(s.actions, actions[2:4])


def test_padding_past_episode_end_absolute_repeats_last_action():
    states, actions = _episode()
    s = offset_sample(
        states=states, actions=actions, t=3, offset=1, horizon=4, action_space="absolute"
    )
    np.testing.assert_array_equal(s.actions, [actions[4], actions[5], actions[5], actions[5]])
    assert s.valid.tolist() == [True, True, False, False]


def test_padding_past_episode_end_delta_is_zero():
    states, actions = _episode()
    s = offset_sample(
        states=states, actions=actions, t=4, offset=1, horizon=3, action_space="delta"
    )
    np.testing.assert_array_equal(s.actions, [actions[5], [0.0, 0.0], [0.0, 0.0]])
    assert s.valid.tolist() == [True, False, False]


def test_offset_beyond_episode_uses_last_state_and_is_all_padding():
    states, actions = _episode()
    s = offset_sample(
        states=states, actions=actions, t=5, offset=3, horizon=2, action_space="delta"
    )
    np.testing.assert_array_equal(s.state, states[5])
    assert not s.valid.any()
    np.testing.assert_array_equal(s.actions, 0.0)


def test_absolute_state_derived_from_previous_action():
    _, actions = _episode(dim=2)
    init = np.array([-1.0, -2.0, 0.5])  # two joints + a gripper entry not driven by the action
    kwargs = {
        "states": None,
        "actions": actions,
        "horizon": 2,
        "action_space": ActionSpace.ABSOLUTE,
        "state_index_map": [0, 1],
        "initial_state": init,
    }
    s = offset_sample(t=0, offset=0, **kwargs)
    np.testing.assert_array_equal(s.state, init)
    s = offset_sample(t=1, offset=2, **kwargs)
    np.testing.assert_array_equal(s.state, [actions[2][0], actions[2][1], 0.5])
    # Beyond the end: the robot sits at the last target.
    s = offset_sample(t=5, offset=4, **kwargs)
    np.testing.assert_array_equal(s.state, [actions[5][0], actions[5][1], 0.5])


@settings(max_examples=25, deadline=None)
@given(
    n_steps=st.integers(1, 12),
    t_frac=st.floats(0, 0.999),
    offset=st.integers(0, 6),
    horizon=st.integers(1, 8),
    space=st.sampled_from(list(ActionSpace)),
)
def test_valid_prefix_matches_trajectory(n_steps, t_frac, offset, horizon, space):
    states, actions = _episode(n_steps)
    t = int(t_frac * n_steps)
    s = offset_sample(
        states=states, actions=actions, t=t, offset=offset, horizon=horizon, action_space=space
    )
    k = t + offset
    n_valid = int(s.valid.sum())
    assert n_valid == max(0, min(horizon, n_steps - k))
    # valid is a prefix: no valid step after an invalid one.
    assert s.valid.tolist() == [True] * n_valid + [False] * (horizon - n_valid)
    np.testing.assert_array_equal(s.actions[:n_valid], actions[k : k + n_valid])
    assert s.actions.shape == (horizon, actions.shape[1])
    np.testing.assert_array_equal(s.state, states[min(k, n_steps - 1)])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"states": None, "action_space": "delta"}, ValueError, "states are required for DELTA"),
        ({"states": None}, ValueError, "initial_state is required"),
        ({"t": 6}, ValueError, "t must be < the episode length 6"),
        ({"t": -1}, ValueError, "t must be >= 0"),
        ({"offset": -1}, ValueError, "offset must be >= 0"),
        ({"horizon": 0}, ValueError, "horizon must be >= 1"),
        ({"states": np.zeros((5, 2))}, ValueError, "one row per action step"),
        ({"actions": np.zeros((0, 2)), "states": None}, ValueError, "at least one step"),
        ({"actions": np.zeros(6)}, ValueError, "actions must be 2-D"),
        ({"t": 1.0}, TypeError, "t must be an integer"),
    ],
)
def test_offset_sample_validation(kwargs, exc, match):
    states, actions = _episode()
    args = {
        "states": states,
        "actions": actions,
        "t": 0,
        "offset": 1,
        "horizon": 3,
        "action_space": "absolute",
    }
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        offset_sample(**args)


def test_non_finite_target_is_rejected():
    states, actions = _episode()
    actions[3, 0] = np.nan
    with pytest.raises(ValueError, match="actions contains non-finite"):
        offset_sample(states=states, actions=actions, t=2, offset=0, horizon=2, action_space=0)
