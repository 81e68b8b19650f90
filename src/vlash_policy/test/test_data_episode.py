import numpy as np
import pytest

from vlash_core.action_space import ActionSpace
from vlash_policy.data.episode import Episode, check_compatible


def _episode(**overrides):
    kwargs = dict(
        images={"front": np.zeros((3, 4, 5, 3), np.uint8)},
        states=np.zeros((3, 2)),
        actions=np.ones((3, 2)),
        instruction="pick",
        fps=10,
        action_space="delta",
    )
    kwargs.update(overrides)
    return Episode(**kwargs)


def test_converts_dtypes_and_defaults():
    ep = _episode()
    assert ep.states.dtype == np.float32 and ep.actions.dtype == np.float32
    assert ep.action_space is ActionSpace.DELTA
    assert ep.joint_names == ("joint_0", "joint_1")
    assert (ep.length, ep.state_dim, ep.action_dim, ep.cameras) == (3, 2, 2, ("front",))
    assert isinstance(ep.fps, float)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"actions": np.ones((4, 2))}, ValueError, "one row per state step"),
        ({"states": np.zeros((0, 2)), "actions": np.zeros((0, 2))}, ValueError, "at least one"),
        ({"states": np.array([[0.0, np.nan]] * 3)}, ValueError, "step 0"),
        ({"images": {"front": np.zeros((3, 4, 5, 3), np.float32)}}, TypeError, "uint8"),
        ({"images": {"front": np.zeros((3, 4, 5), np.uint8)}}, ValueError, r"\(T, H, W, 3\)"),
        ({"images": {"front": np.zeros((2, 4, 5, 3), np.uint8)}}, ValueError, "one frame per"),
        ({"images": {}}, ValueError, "non-empty"),
        ({"fps": 0}, ValueError, "fps"),
        ({"fps": True}, TypeError, "fps"),
        ({"instruction": 3}, TypeError, "instruction"),
        ({"joint_names": ("a",)}, ValueError, "joint_names"),
        ({"action_space": "velocity"}, ValueError, "action_space"),
    ],
)
def test_rejects_invalid(overrides, error, match):
    with pytest.raises(error, match=match):
        _episode(**overrides)


def test_check_compatible_names_the_mismatch():
    check_compatible([_episode(), _episode()])
    with pytest.raises(ValueError, match="state_dim"):
        check_compatible([_episode(), _episode(states=np.zeros((3, 3)), joint_names=())])
    with pytest.raises(ValueError, match="camera 'front'"):
        check_compatible([_episode(), _episode(images={"front": np.zeros((3, 6, 5, 3), np.uint8)})])
    with pytest.raises(ValueError, match="not be empty"):
        check_compatible([])


def test_commanded_states_are_the_previous_commands():
    actions = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    measured = np.array([[0.5, 0.5], [0.9, 1.8], [2.7, 3.5]])  # lagging the commands
    ep = _episode(states=measured, actions=actions, action_space="absolute")
    commanded = ep.with_commanded_states()
    np.testing.assert_array_equal(commanded.states, [[0.5, 0.5], [1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(commanded.actions, actions)
    np.testing.assert_array_equal(ep.states, measured.astype(np.float32))  # left as it was
    with pytest.raises(ValueError, match="absolute actions"):
        _episode().with_commanded_states()
    with pytest.raises(ValueError, match="one state entry per action"):
        _episode(states=np.zeros((3, 3)), action_space="absolute").with_commanded_states()
