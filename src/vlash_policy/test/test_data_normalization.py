import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.data.synthetic import synthetic_episodes


def test_hand_computed_stats_and_floor():
    stats = FeatureStats.of(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(stats.mean, [2.0, 5.0])
    np.testing.assert_allclose(stats.std, [1.0, 0.0])
    np.testing.assert_allclose(stats.min, [1.0, 5.0])
    np.testing.assert_allclose(stats.max, [3.0, 5.0])
    norm = NormalizationStats(state=stats, action=stats, std_floor=0.5)
    # constant dimension divides by the floor, not by zero
    np.testing.assert_allclose(norm.normalize_state(np.array([3.0, 6.0])), [1.0, 2.0])


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (5, 3), elements=st.floats(-100, 100)))
def test_normalize_inverts(rows):
    stats = FeatureStats.of(rows)
    state = rows[0] + 1.0
    for relative in (False, True):
        norm = NormalizationStats(state=stats, action=stats, relative_actions=relative)
        np.testing.assert_allclose(
            norm.unnormalize_action(norm.normalize_action(rows, state), state), rows, atol=1e-6
        )
    t = torch.tensor(rows)
    torch.testing.assert_close(norm.unnormalize_state(norm.normalize_state(t)), t)


def test_computed_over_episodes_standardises_and_round_trips_json(tmp_path):
    eps = synthetic_episodes(3, num_joints=3)
    norm = NormalizationStats.compute(eps)
    state = np.zeros(eps[0].state_dim)
    z = norm.normalize_action(np.concatenate([e.actions for e in eps]), state)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-4)
    path = norm.save(tmp_path)
    assert path.name == "normalization.json"
    loaded = NormalizationStats.load(tmp_path)
    np.testing.assert_array_equal(loaded.action.std, norm.action.std)
    assert loaded.state.count == 3 * eps[0].length


def test_relative_actions_standardise_the_displacement_from_the_chunk_state(tmp_path):
    eps = synthetic_episodes(3, num_joints=3)
    horizon = 4
    norm = NormalizationStats.compute(eps, relative_horizon=horizon)
    ep = eps[0]
    # Every chunk of every episode, each standardised against the state it starts from.
    chunks = [
        norm.normalize_action(e.actions[t : t + horizon], e.states[t])
        for e in eps
        for t in range(e.length - horizon + 1)
    ]
    z = np.concatenate(chunks)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.1)
    # Moving the reference state moves the raw chunk with it.
    chunk = norm.normalize_action(ep.actions[:horizon], ep.states[0])
    shifted = norm.unnormalize_action(chunk, ep.states[0] + 0.5)
    np.testing.assert_allclose(shifted, ep.actions[:horizon] + 0.5, atol=1e-5)
    loaded = NormalizationStats.load(norm.save(tmp_path))
    assert loaded.relative_actions
    with pytest.raises(ValueError, match="state must have shape"):
        norm.normalize_action(ep.actions[:horizon], ep.states[:2])


def test_errors():
    stats = FeatureStats.of(np.zeros((2, 3)))
    norm = NormalizationStats(state=stats, action=stats)
    with pytest.raises(ValueError, match="last dimension must be 3"):
        norm.normalize_state(np.zeros(2))
    with pytest.raises(ValueError, match="std_floor"):
        NormalizationStats(state=stats, action=stats, std_floor=0.0)
    with pytest.raises(ValueError, match="missing keys"):
        FeatureStats.from_dict({"mean": [0.0]})
