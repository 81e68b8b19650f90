"""Seeded whack-a-mole episodes: the protocol's definitions, determinism and statistics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_bench.episodes import (
    Outcome,
    Point,
    PolicySpec,
    Task,
    gap_steps,
    run_episode,
    run_points,
    summarise,
)
from vlash_sim.simulated_loop import ExpertChunkPolicy
from vlash_sim.so101_env import WhackAMoleEnv


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 6), st.integers(1, 8))
def test_target_appears_after_the_first_chunk_at_a_random_cycle_phase(seed, d, extra):
    k = max(d, 1) + extra - 1
    gap = gap_steps(seed, d, k)
    assert d + 2 <= gap < d + 2 + k + d
    assert gap == gap_steps(seed, d, k)


def test_gaps_cover_the_whole_cycle():
    assert {gap_steps(seed, 2, 4) for seed in range(200)} == set(range(4, 10))


def test_episode_outcome_matches_the_env_events():
    task = Task()
    env = WhackAMoleEnv(render=False, target_lifetime_s=task.target_lifetime_s)
    policy = ExpertChunkPolicy(env, horizon=16)
    point = Point(PolicySpec("expert"), "vlash", 2, 4)
    first = run_episode(env, policy, point, 3, task)
    again = run_episode(env, policy, point, 3, task)
    assert first == again
    lifetime = env.lifetime_steps * env.control_period_s
    if first.hit:
        assert 0.0 < first.time_to_hit_s == first.time_on_target_s <= lifetime
    else:
        assert first.time_to_hit_s is None and first.time_on_target_s == pytest.approx(lifetime)
    assert first.inferences >= 1


def test_parallel_workers_give_the_same_outcomes():
    points = [Point(PolicySpec("expert"), s, 3, 4) for s in ("sync", "vlash")]
    serial = run_points(points, 3, Task(), workers=1)
    parallel = run_points(points, 3, Task(), workers=2)
    assert serial == parallel
    assert [o.seed for o in serial[0]] == [0, 1, 2]


def test_summarise_counts_and_intervals():
    outcomes = [
        Outcome(0, True, 0.2, 0.2, 3),
        Outcome(1, True, 0.4, 0.4, 3),
        Outcome(2, False, None, 0.5, 4),
        Outcome(3, False, None, 0.5, 4),
    ]
    s = summarise(outcomes)
    assert s["episodes"] == 4 and s["hits"] == 2 and s["hit_rate"] == 0.5
    low, high = s["hit_rate_ci95"]
    assert low < 0.5 < high
    assert s["time_to_hit_s"]["mean"] == pytest.approx(0.3)
    assert s["time_per_target_s"]["mean"] == pytest.approx(0.4)
    assert s["inferences_per_episode"] == 3.5


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: PolicySpec("oracle"), "kind must be"),
        (lambda: PolicySpec("learned"), "needs a checkpoint"),
        (lambda: PolicySpec("expert", refine="random"), "no refinement"),
        (lambda: Point(PolicySpec("expert"), "vlash", 4, 3), "execution_horizon"),
        (lambda: Point(PolicySpec("expert"), "vlash", -1, 3), "delay_steps"),
    ],
)
def test_bad_configurations_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()
