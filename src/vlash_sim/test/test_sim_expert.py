import numpy as np
import pytest

from vlash_sim.expert import ScriptedExpert
from vlash_sim.so101_env import WhackAMoleEnv


def env_with_target(seed: int = 4) -> tuple[WhackAMoleEnv, object]:
    env = WhackAMoleEnv(seed=seed, render=False, target_gap_s=0.0)
    observation = env.step(env.home_position, render=False).observation
    assert env.current_target() is not None
    return env, observation


def test_chunk_moves_at_most_the_joint_speed_limit_per_step():
    env, observation = env_with_target()
    expert = ScriptedExpert(env, max_joint_speed_rad_s=2.0)
    chunk = expert.plan_chunk(observation, env, 40)
    assert chunk.shape == (40, 6)
    path = np.vstack([observation.joint_positions, chunk])
    assert np.abs(np.diff(path, axis=0)).max() <= 2.0 * env.control_period_s + 1e-12
    # The motion is not a standstill: the first step uses the full speed on some joint.
    assert np.abs(chunk[0] - observation.joint_positions).max() == pytest.approx(
        2.0 * env.control_period_s
    )


def test_chunk_ends_on_a_configuration_whose_tip_touches_the_target():
    env, observation = env_with_target()
    expert = ScriptedExpert(env)
    chunk = expert.plan_chunk(observation, env, 120)
    np.testing.assert_array_equal(chunk[-1], chunk[-2])  # converged to the IK goal
    tip = env.tip_position_at(chunk[-1])
    assert np.linalg.norm(tip - env.current_target().position) < env.hit_radius_m / 3
    assert np.all(chunk >= env.lower) and np.all(chunk <= env.upper)


def test_without_a_target_the_chunk_returns_home():
    env = WhackAMoleEnv(seed=0, render=False)
    observation = env.reset(seed=0)
    assert env.current_target() is None
    expert = ScriptedExpert(env)
    start = env.home_position + np.array([0.4, -0.3, 0.2, 0.0, 0.1, 0.0])
    chunk = expert.plan_chunk(observation, env, 30, start_positions=start)
    np.testing.assert_allclose(chunk[-1], env.home_position)


def test_chunk_starts_from_the_given_rolled_state_not_the_observation():
    env, observation = env_with_target()
    expert = ScriptedExpert(env)
    rolled = observation.joint_positions + 0.5
    first = expert.plan_chunk(observation, env, 5, start_positions=rolled)[0]
    assert np.abs(first - rolled).max() <= expert.max_step_rad + 1e-12
    assert np.abs(first - observation.joint_positions).max() > expert.max_step_rad


def test_act_is_the_first_action_of_a_chunk():
    env, observation = env_with_target()
    expert = ScriptedExpert(env)
    np.testing.assert_array_equal(
        expert.act(observation, env), expert.plan_chunk(observation, env, 8)[0]
    )


def test_bad_arguments_name_the_argument():
    env, observation = env_with_target()
    with pytest.raises(ValueError, match="max_joint_speed_rad_s"):
        ScriptedExpert(env, max_joint_speed_rad_s=0.0)
    expert = ScriptedExpert(env)
    with pytest.raises(ValueError, match="horizon"):
        expert.plan_chunk(observation, env, 0)
    with pytest.raises(ValueError, match="start_positions"):
        expert.plan_chunk(observation, env, 3, start_positions=np.zeros(5))
