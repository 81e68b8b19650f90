import numpy as np
import pytest

from vlash_core.action_space import ActionSpace
from vlash_core.rollforward import roll_forward
from vlash_policy.data.synthetic import COLOURS, synthetic_episode, synthetic_episodes


def test_deterministic_and_seed_dependent():
    a, b = synthetic_episodes(2, seed=3), synthetic_episodes(2, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.states, y.states)
        np.testing.assert_array_equal(x.images["front"], y.images["front"])
        assert x.instruction == y.instruction
    c = synthetic_episodes(2, seed=4)
    assert not np.array_equal(a[0].states, c[0].states)


@pytest.mark.parametrize("space", [ActionSpace.ABSOLUTE, ActionSpace.DELTA])
def test_actions_drive_states_by_the_rollforward_convention(space):
    ep = synthetic_episode(0, length=10, num_joints=4, action_space=space)
    # s_{t+1} is the state after a_t executes (VLASH Sec. 4.1 step convention).
    for t in range(ep.length - 1):
        rolled = roll_forward(ep.states[t], ep.actions[t : t + 1], action_space=space)
        np.testing.assert_allclose(rolled, ep.states[t + 1], atol=1e-6)


def test_converges_towards_the_named_dot():
    ep = synthetic_episode(1, length=40, image_size=32)
    colour = ep.instruction.split()[2]
    assert colour in COLOURS
    frame = ep.images["front"][0]
    rows, cols = np.nonzero(np.all(frame == COLOURS[colour], axis=-1))
    dot = (np.array([rows.mean(), cols.mean()]) / 31) * 2 - 1
    np.testing.assert_allclose(ep.states[-1, :2], dot, atol=0.08)
    # the end effector marker follows the state, so frames change over time
    assert not np.array_equal(ep.images["front"][0], ep.images["front"][-1])


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_joints must be >= 2"):
        synthetic_episode(0, num_joints=1)
    with pytest.raises(ValueError, match="count"):
        synthetic_episodes(0)
