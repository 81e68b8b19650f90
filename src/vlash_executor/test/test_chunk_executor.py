import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_executor.chunk_executor import ChunkExecutor, IncomingChunk
from vlash_policy.action_space import ActionSpace
from vlash_policy.strategies import STRATEGY_NAMES, get_strategy

JOINTS = 2


def make_executor(strategy: str = "vlash", **overrides) -> ChunkExecutor:
    options = dict(
        strategy=get_strategy(strategy),
        joint_count=JOINTS,
        lower=[-1.0, -1.0],
        upper=[1.0, 1.0],
        max_step_per_tick=[10.0, 10.0],
    )
    options.update(overrides)
    executor = ChunkExecutor(**options)
    executor.set_measured_position([0.0, 0.0])
    return executor


def ramp_chunk(
    chunk_id: int, start_step: int, horizon: int = 8, q: int = 1, k: int = 0
) -> IncomingChunk:
    # Action i is (i, chunk_id) / 100 so the command tells which action executed.
    actions = np.stack([np.arange(horizon) / 100.0, np.full(horizon, chunk_id / 100.0)], axis=1)
    return IncomingChunk(chunk_id, start_step, start_step, actions, ActionSpace.ABSOLUTE, q, k)


def run(executor: ChunkExecutor, steps: int):
    return [executor.tick() for _ in range(steps)]


def test_vlash_action_i_executes_at_start_step_plus_i_and_late_actions_are_dropped():
    executor = make_executor("vlash")
    run(executor, 5)  # steps 0..4 hold
    dropped = executor.accept(ramp_chunk(1, start_step=3))  # arrives at step 5: 2 late
    assert dropped == 2
    assert executor.dropped_actions == 2
    results = run(executor, 6)
    for result in results:
        assert result.chunk_id == 1
        assert result.micro_index == result.step - 3
        np.testing.assert_allclose(result.command[0], (result.step - 3) / 100.0)


def test_vlash_chunk_waits_for_its_start_step():
    executor = make_executor("vlash")
    executor.accept(ramp_chunk(1, start_step=4))
    results = run(executor, 6)
    assert [r.holding for r in results] == [True] * 4 + [False] * 2
    assert results[4].micro_index == 0


@pytest.mark.parametrize("strategy", ["sync", "naive_async"])
def test_arrival_strategies_start_with_action_zero_at_arrival(strategy):
    executor = make_executor(strategy)
    run(executor, 7)
    assert executor.accept(ramp_chunk(1, start_step=2)) == 0
    results = run(executor, 3)
    assert [r.step for r in results] == [7, 8, 9]
    assert [r.micro_index for r in results] == [0, 1, 2]


def test_rtc_keeps_observation_alignment_and_skips_the_inpainted_prefix():
    executor = make_executor("rtc")
    run(executor, 5)
    assert executor.accept(ramp_chunk(1, start_step=2)) == 3
    assert executor.tick().micro_index == 3


def test_sync_executes_only_the_execution_horizon_then_holds():
    executor = make_executor("sync")
    executor.accept(ramp_chunk(1, start_step=0, k=3))
    results = run(executor, 5)
    assert [r.holding for r in results] == [False, False, False, True, True]
    assert executor.steps_left() == 0
    np.testing.assert_allclose(results[-1].command, results[2].command)


def test_async_runs_past_the_execution_horizon_when_the_next_chunk_is_late():
    executor = make_executor("vlash")
    executor.accept(ramp_chunk(1, start_step=0, horizon=5, k=3))
    assert [r.holding for r in run(executor, 6)] == [False] * 5 + [True]


def test_quantized_chunk_takes_one_step_per_macro_action_and_reports_last_micro_index():
    executor = make_executor("vlash")
    executor.accept(ramp_chunk(1, start_step=0, horizon=7, q=3))
    results = run(executor, 4)
    assert [r.micro_index for r in results[:3]] == [2, 5, 6]
    np.testing.assert_allclose([r.command[0] for r in results[:3]], [0.02, 0.05, 0.06])
    assert results[3].holding


def test_delta_actions_accumulate_on_the_last_command():
    executor = make_executor("vlash")
    deltas = np.full((4, JOINTS), 0.1)
    executor.accept(IncomingChunk(1, 0, 0, deltas, ActionSpace.DELTA))
    commands = [r.command for r in run(executor, 4)]
    np.testing.assert_allclose(commands[-1], [0.4, 0.4])


def test_silent_policy_times_out_to_holding():
    executor = make_executor("vlash", policy_timeout_steps=3)
    executor.accept(ramp_chunk(1, start_step=0, horizon=10))
    results = run(executor, 5)
    assert [r.holding for r in results] == [False, False, False, True, True]
    np.testing.assert_allclose(results[4].command, results[2].command)


def test_no_known_position_means_holding_without_a_command():
    executor = ChunkExecutor(
        strategy=get_strategy("vlash"), joint_count=1, lower=[-1], upper=[1], max_step_per_tick=[1]
    )
    result = executor.tick()
    assert result.holding and np.isnan(result.command).all()


@settings(max_examples=40, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGY_NAMES),
    actions=st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=1, max_size=12),
    space=st.sampled_from(list(ActionSpace)),
    arrival=st.integers(0, 6),
)
def test_commands_never_leave_position_or_velocity_limits(strategy, actions, space, arrival):
    executor = make_executor(strategy, max_step_per_tick=[0.05, 0.2])
    run(executor, arrival)
    executor.accept(IncomingChunk(1, 0, 0, np.asarray(actions), space))
    previous = executor.last_command
    for result in run(executor, len(actions) + 2):
        assert np.all(result.command >= -1.0) and np.all(result.command <= 1.0)
        assert np.all(np.abs(result.command - previous) <= np.array([0.05, 0.2]) + 1e-12)
        previous = result.command


def test_preview_matches_the_commands_that_follow():
    executor = make_executor("vlash", max_step_per_tick=[0.03, 0.03])
    executor.accept(ramp_chunk(1, start_step=0))
    preview = executor.preview(10)
    np.testing.assert_allclose(preview, [r.command for r in run(executor, 10)])


def test_bad_construction_and_chunk_shapes_are_rejected():
    with pytest.raises(ValueError, match="lower > upper"):
        make_executor(lower=[0.0, 2.0], upper=[1.0, 1.0])
    with pytest.raises(ValueError, match="max_step_per_tick"):
        make_executor(max_step_per_tick=[0.0, 1.0])
    executor = make_executor()
    with pytest.raises(ValueError, match=r"shape \(H, 2\)"):
        executor.accept(IncomingChunk(1, 0, 0, np.zeros((4, 3)), ActionSpace.ABSOLUTE))


def test_early_chunk_waits_while_the_current_chunk_keeps_running():
    executor = make_executor("vlash")
    executor.accept(ramp_chunk(1, start_step=0, horizon=10))
    run(executor, 2)
    assert executor.accept(ramp_chunk(2, start_step=5)) == 0
    assert executor.running_chunk_id == 2
    assert executor.steps_left() == 3 + 8  # 3 steps of chunk 1, then all of chunk 2
    results = run(executor, 5)
    assert [(r.chunk_id, r.micro_index) for r in results] == [
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 0),
        (2, 1),
    ]
    assert executor.steps_left() == 6


def test_chunks_arriving_every_step_each_start_at_their_own_step():
    # vlash with K = 1: a new chunk per step, each planned Δ = 3 steps ahead.
    executor = make_executor("vlash")
    executed = []
    for step in range(12):
        executor.accept(ramp_chunk(step + 1, start_step=step + 3))
        executed.append(executor.tick())
    assert [r.holding for r in executed] == [True] * 3 + [False] * 9
    # From step 3 on, step s runs action 0 of the chunk planned for s (id s - 2).
    assert [(r.chunk_id, r.micro_index) for r in executed[3:]] == [(s - 2, 0) for s in range(3, 12)]


def test_a_fresher_chunk_supersedes_waiting_plans_from_its_start_on():
    executor = make_executor("vlash")
    executor.accept(ramp_chunk(1, start_step=2))
    executor.accept(ramp_chunk(2, start_step=5))
    executor.accept(ramp_chunk(3, start_step=4))  # replaces chunk 2, keeps chunk 1 until step 4
    results = run(executor, 7)
    assert [r.chunk_id for r in results] == [None, None, 1, 1, 3, 3, 3]
