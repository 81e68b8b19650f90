import numpy as np
import pytest

from vlash_sim.trajectory_follower import TrajectoryFollower


def test_interpolates_from_the_held_position_and_holds_the_last_point():
    follower = TrajectoryFollower(joint_names=["a", "b"])
    assert follower.sample(0.0) is None
    follower.set_trajectory(
        ["b", "a"], [[2.0, 1.0], [4.0, 3.0]], [0.5, 1.0], start_s=10.0, current=np.zeros(2)
    )
    np.testing.assert_allclose(follower.sample(10.25), [0.5, 1.0])
    np.testing.assert_allclose(follower.sample(10.5), [1.0, 2.0])
    np.testing.assert_allclose(follower.sample(10.75), [2.0, 3.0])
    np.testing.assert_allclose(follower.sample(99.0), [3.0, 4.0])
    follower.clear()
    assert follower.sample(10.0) is None


def test_rejects_unordered_times_and_missing_joints():
    follower = TrajectoryFollower(joint_names=["a"])
    with pytest.raises(ValueError, match="strictly increasing"):
        follower.set_trajectory(["a"], [[0.0], [1.0]], [0.2, 0.2], start_s=0, current=[0.0])
    with pytest.raises(ValueError, match=r"lack \['a'\]"):
        follower.reorder(["b"], [1.0])
