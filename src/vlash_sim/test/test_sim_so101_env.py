import numpy as np
import pytest

from vlash_sim.expert import ScriptedExpert
from vlash_sim.so101_env import JOINT_NAMES, TARGET_RGBA, WhackAMoleEnv


def rollout(env: WhackAMoleEnv, steps: int, seed: int):
    # Re-planned every step from the measured (lagging) position: at the 1 rad/s demonstration
    # speed that crawls, so these env checks move at the executor's 3 rad/s limit instead.
    expert = ScriptedExpert(env, max_joint_speed_rad_s=3.0)
    observation = env.reset(seed=seed)
    joints, events = [], []
    for _ in range(steps):
        result = env.step(expert.act(observation, env), render=False)
        observation = result.observation
        joints.append(observation.joint_positions)
        events.extend((e.kind, e.target_id, e.step) for e in result.events)
    return np.array(joints), events


def test_same_seed_gives_identical_events_and_trajectories():
    env = WhackAMoleEnv(seed=0, render=False)
    first = rollout(env, 120, seed=7)
    second = rollout(env, 120, seed=7)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    assert rollout(env, 120, seed=8)[1] != first[1]


def test_targets_time_out_as_missed_when_the_arm_stays_home():
    env = WhackAMoleEnv(seed=0, render=False, target_lifetime_s=0.5, target_gap_s=0.2)
    env.reset(seed=3)
    kinds = []
    for _ in range(90):
        kinds += [e.kind for e in env.step(env.home_position, render=False).events]
    state = env.state()
    assert state.hit == 0 and state.missed >= 2
    assert kinds.count("shown") == state.shown
    # A target shown at step s is missed exactly lifetime steps later.
    assert kinds[:2] == ["shown", "missed"]


def test_the_expert_hits_most_targets():
    env = WhackAMoleEnv(seed=0, render=False)
    _, events = rollout(env, 450, seed=11)
    hits = sum(kind == "hit" for kind, _, _ in events)
    misses = sum(kind == "missed" for kind, _, _ in events)
    assert hits >= 8 and hits > 4 * misses


def test_targets_are_clamped_to_the_joint_limits():
    env = WhackAMoleEnv(seed=0, render=False)
    result = env.step(env.upper + 10.0, render=False)
    np.testing.assert_array_equal(result.applied_targets, env.upper)
    with pytest.raises(ValueError, match="joint_targets must have shape"):
        env.step(np.zeros(len(JOINT_NAMES) + 1))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full(len(JOINT_NAMES), np.nan))


def test_rendered_frame_shows_the_target_in_its_colour():
    env = WhackAMoleEnv(seed=0, image_size=64, target_gap_s=0.0)
    observation = env.step(env.home_position).observation
    assert env.current_target() is not None
    image = observation.image
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    red = (image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 80)
    assert red.any(), "no target-coloured pixel in the frame"
    assert TARGET_RGBA[0] > TARGET_RGBA[1]
    assert env.step(env.home_position, render=False).observation.image is None
    env.close()


def test_touching_a_target_reports_a_hit_within_its_lifetime():
    env = WhackAMoleEnv(seed=0, render=False)
    expert = ScriptedExpert(env)
    observation = env.reset(seed=2)
    shown, hit = None, None
    while hit is None and observation.step < 200:
        result = env.step(expert.act(observation, env), render=False)
        observation = result.observation
        for event in result.events:
            if event.kind == "shown" and shown is None:
                shown = event
            elif event.kind == "hit":
                hit = event
                tip_at_hit = env.tip_position()
    assert shown is not None and hit is not None
    assert hit.target_id == shown.target_id
    np.testing.assert_array_equal(hit.position, shown.position)
    assert shown.step < hit.step <= shown.step + env.lifetime_steps
    assert np.linalg.norm(tip_at_hit - hit.position) <= env.hit_radius_m
    assert hit.time_s == pytest.approx(hit.step * env.control_period_s)
    state = env.state()
    assert (state.shown, state.hit, state.missed) == (1, 1, 0)
    assert env.current_target() is None  # a hit target vanishes at once


def test_measured_joints_stay_within_limits_under_out_of_range_commands():
    env = WhackAMoleEnv(seed=0, render=False)
    # Joint limits are soft constraints in MuJoCo and the position servos overshoot by ~10 %
    # on a full-range swing, so a few hundredths of a radian past the limit are physical.
    tolerance = 0.05
    for command in (env.upper + 5.0, env.lower - 5.0):
        for _ in range(45):
            positions = env.step(command, render=False).observation.joint_positions
            assert np.all(positions >= env.lower - tolerance)
            assert np.all(positions <= env.upper + tolerance)
