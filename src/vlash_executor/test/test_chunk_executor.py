"""Tests for vlash_executor.chunk_executor: step-exact switching, safety, and the roll-forward.

The last section runs the real executor tick by tick next to the policy's InferencePlanner and
checks that every rolled state ``s_{t+Δ}`` (VLASH Sec. 4.1) is exactly the position the executor
commands at step ``t+Δ-1``, with the velocity limit binding and quantization q = 1..3.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_core.action_space import ActionSpace
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.strategies import STRATEGY_NAMES, get_strategy
from vlash_executor.chunk_executor import ChunkExecutor, HoldReason, IncomingChunk, decode_chunk

JOINTS = 2
# Larger than any step of the ramps below, so bookkeeping tests see the actions themselves.
MAX_STEP = [0.1, 0.1]


def make_executor(strategy: str = "vlash", **overrides) -> ChunkExecutor:
    options = dict(
        strategy=get_strategy(strategy),
        joint_count=JOINTS,
        lower=[-1.0, -1.0],
        upper=[1.0, 1.0],
        max_step_per_tick=MAX_STEP,
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
    # Conditioned on step 0: every chunk is fresh and none from a step the clock has not reached.
    return IncomingChunk(chunk_id, start_step, 0, actions, ActionSpace.ABSOLUTE, q, k)


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


def test_silent_policy_and_exhausted_chunk_say_why_they_hold():
    executor = make_executor("vlash", policy_timeout_steps=3)
    assert executor.tick().hold_reason is HoldReason.NO_ACTION  # no chunk yet
    executor.accept(ramp_chunk(1, start_step=1, horizon=10))
    results = run(executor, 4)
    assert [r.hold_reason for r in results] == [None, None, None, HoldReason.POLICY_TIMEOUT]
    executor.accept(ramp_chunk(2, start_step=5, horizon=1))
    assert [r.hold_reason for r in run(executor, 2)] == [None, HoldReason.NO_ACTION]


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
    with pytest.raises(ValueError, match="must be finite for every joint"):
        make_executor(upper=[1.0, np.inf])
    with pytest.raises(ValueError, match="joint_state_timeout_steps must be an integer >= 0"):
        make_executor(joint_state_timeout_steps=-1)
    with pytest.raises(ValueError, match="policy_timeout_steps must be an integer >= 0"):
        make_executor(policy_timeout_steps=1.5)
    with pytest.raises(ValueError, match="reseed_distance must be finite and >= 0"):
        make_executor(reseed_distance=np.nan)
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


# --- safe start, stale input, re-seeding, arming (what a real arm needs) --------------------


def test_nothing_is_commanded_before_a_measured_position_then_the_first_command_is_one_step():
    # Issue 12: a chunk accepted before any joint state must not be commanded from nowhere.
    executor = ChunkExecutor(
        strategy=get_strategy("vlash"),
        joint_count=JOINTS,
        lower=[-3.0, -3.0],
        upper=[3.0, 3.0],
        max_step_per_tick=MAX_STEP,
    )
    executor.accept(IncomingChunk(1, 0, 0, np.full((20, JOINTS), 2.5), ActionSpace.ABSOLUTE))
    for result in run(executor, 3):
        assert result.command is None and result.hold_reason is HoldReason.NO_POSITION
    assert executor.last_command is None
    measured = np.array([0.3, -0.2])
    executor.set_measured_position(measured)
    first = executor.tick()
    assert first.chunk_id == 1 and first.micro_index == 3  # steps 0-2 passed while holding
    np.testing.assert_array_equal(first.command, measured + MAX_STEP)


def test_delta_chunk_before_a_position_starts_from_the_measured_joints():
    executor = ChunkExecutor(
        strategy=get_strategy("vlash"), joint_count=1, lower=-3, upper=3, max_step_per_tick=0.5
    )
    executor.accept(IncomingChunk(1, 0, 0, np.full((5, 1), 0.25), ActionSpace.DELTA))
    assert executor.tick().command is None
    executor.set_measured_position([1.0])
    assert executor.tick().command.tolist() == [1.25]


def test_measured_position_outside_the_limits_is_held_at_the_limit():
    executor = ChunkExecutor(
        strategy=get_strategy("vlash"), joint_count=JOINTS, lower=-1, upper=1, max_step_per_tick=0.1
    )
    executor.set_measured_position([1.4, -0.2])
    assert executor.tick().command.tolist() == [1.0, -0.2]


def test_stale_joint_states_hold_until_they_resume():
    executor = make_executor(joint_state_timeout_steps=3)  # measured before step 0
    executor.accept(ramp_chunk(1, start_step=0, horizon=10))
    results = run(executor, 5)
    assert [r.hold_reason for r in results] == [None] * 3 + [HoldReason.STALE_POSITION] * 2
    np.testing.assert_array_equal(results[4].command, results[2].command)
    executor.set_measured_position(results[2].command)
    result = executor.tick()
    assert result.hold_reason is None and result.micro_index == 5  # step-exact: 3, 4 passed


def test_measured_position_far_from_the_command_reseeds_instead_of_jumping_back():
    executor = make_executor(reseed_distance=0.5)
    executor.accept(IncomingChunk(1, 0, 0, np.full((10, JOINTS), 0.8), ActionSpace.ABSOLUTE))
    run(executor, 3)
    np.testing.assert_allclose(executor.last_command, [0.3, 0.3])
    assert not executor.set_measured_position([0.1, -0.1])  # within 0.5: the arm lags
    assert executor.reseeds == 0
    assert executor.set_measured_position([0.3, -0.4])  # 0.7 away: moved by hand
    assert executor.reseeds == 1
    np.testing.assert_array_equal(executor.last_command, [0.3, -0.4])
    np.testing.assert_allclose(executor.tick().command, [0.4, -0.3])


def test_disarmed_executor_reports_what_it_would_command_and_arming_starts_from_the_arm():
    executor = make_executor(armed=False)
    executor.accept(IncomingChunk(1, 0, 0, np.full((10, JOINTS), 0.8), ActionSpace.ABSOLUTE))
    results = run(executor, 2)
    for result in results:
        assert result.holding and result.hold_reason is HoldReason.DISARMED
        assert result.chunk_id == 1  # the action it would execute
        np.testing.assert_allclose(result.command, [0.1, 0.1])  # one step from the arm
    np.testing.assert_array_equal(executor.last_command, [0.0, 0.0])  # nothing commanded
    executor.set_measured_position([-0.5, 0.2])  # the arm was moved while disarmed
    assert executor.reseeds == 0
    np.testing.assert_allclose(executor.tick().command, [-0.4, 0.3])  # would start there
    executor.arm()
    assert executor.armed
    result = executor.tick()
    assert result.hold_reason is None and result.micro_index == 3
    np.testing.assert_allclose(result.command, [-0.4, 0.3])


def test_disarming_holds_the_last_command():
    executor = make_executor()
    executor.accept(IncomingChunk(1, 0, 0, np.full((10, JOINTS), 0.8), ActionSpace.ABSOLUTE))
    run(executor, 2)
    executor.disarm()
    held = executor.last_command
    for result in run(executor, 3):
        assert result.hold_reason is HoldReason.DISARMED
    np.testing.assert_array_equal(executor.last_command, held)


# --- refused chunks: every malformed field and every chunk off the executor's clock ----------
def _message(**fields) -> SimpleNamespace:
    """An ActionChunk stand-in for a 2-joint executor at 10 Hz; ``fields`` break it."""
    base = dict(
        chunk_id=3,
        start_step=4,
        source_step=2,
        control_period=0.1,
        joint_names=["a", "b"],
        action_space=0,
        horizon=3,
        action_dim=2,
        quantization=1,
        execution_horizon=0,
        actions=[0.1] * 6,
        strategy="vlash",
    )
    return SimpleNamespace(**(base | fields))


def _decode(msg: SimpleNamespace) -> IncomingChunk:
    return decode_chunk(
        msg, joint_names=["a", "b"], strategy=get_strategy("vlash"), control_period_s=0.1
    )


@pytest.mark.parametrize(
    ("fields", "kind", "match"),
    [
        ({"chunk_id": 2**64 - 1}, "chunk_id", "exceeds"),
        ({"joint_names": ["b", "a"]}, "joint_names", r"\['b', 'a'\] differ"),
        ({"joint_names": ["a", "c"]}, "joint_names", "differ from the executor's"),
        ({"strategy": "sync"}, "strategy", "'sync' differs"),
        ({"control_period": 0.02}, "control_period", "planned for another rate"),
        ({"control_period": math.nan}, "control_period", "nan s differs"),
        ({"action_space": 9}, "action_space", "action_space code 9 is not valid"),
        ({"horizon": 0, "actions": []}, "empty", "horizon must be > 0"),
        ({"action_dim": 3}, "shape", "6 values but horizon\\*action_dim = 3\\*3"),
        ({"actions": [0.1] * 5}, "shape", "5 values"),
        ({"actions": [0.1] * 5 + [math.inf]}, "non_finite", r"actions\[5\] is infinite"),
        ({"actions": [2e4] + [0.0] * 5}, "huge", "beyond"),
        ({"quantization": 0}, "quantization", r"in \[1, horizon = 3\], got 0"),
        ({"quantization": 2**31}, "quantization", "got 2147483648"),
    ],
)
def test_a_malformed_chunk_is_refused_naming_field_and_kind(fields, kind, match):
    with pytest.raises(RefusedInputError, match=match) as info:
        _decode(_message(**fields))
    assert info.value.kind == kind


def test_a_well_formed_chunk_decodes_to_float64_actions():
    chunk = _decode(_message(actions=[0.5, -0.5] * 3, action_space=1, quantization=3))
    assert chunk.actions.dtype == np.float64 and chunk.actions.shape == (3, 2)
    assert chunk.action_space is ActionSpace.DELTA and chunk.quantization == 3
    assert _decode(_message(control_period=0.0, strategy="")).chunk_id == 3  # unset: any


def _chunk(chunk_id: int, start: int, source: int, horizon: int = 4) -> IncomingChunk:
    return IncomingChunk(
        chunk_id, start, source, np.full((horizon, JOINTS), 0.2), ActionSpace.ABSOLUTE
    )


def test_chunks_off_the_executor_clock_are_refused_and_the_running_plan_kept():
    executor = make_executor("vlash", max_lead_steps=10)
    run(executor, 5)
    executor.accept(_chunk(1, start=6, source=4, horizon=20))
    cases = [
        (_chunk(2, start=3, source=4), "start_before_source"),
        (_chunk(1, start=6, source=4), "duplicate"),
        (_chunk(3, start=6, source=3), "out_of_order"),
        (_chunk(4, start=9, source=6), "future_source"),  # the executor is at step 5
        (_chunk(5, start=16, source=5), "far_future"),  # 11 ahead of step 5, at most 10
    ]
    for chunk, kind in cases:
        with pytest.raises(RefusedInputError) as info:
            executor.accept(chunk)
        assert info.value.kind == kind, (chunk, str(info.value))
    assert executor.running_chunk_id == 1 and executor.dropped_actions == 0
    assert [r.chunk_id for r in run(executor, 3)] == [None, 1, 1]
    # A restarted policy numbers its chunks from 1 again: a fresh observation is no repeat.
    executor.accept(_chunk(1, start=9, source=8))
    assert executor.running_chunk_id == 1 and executor.steps_left() == 5


def test_a_chunk_after_all_its_steps_is_counted_and_supersedes_as_the_policy_assumes():
    executor = make_executor("vlash")
    executor.accept(_chunk(1, start=0, source=0, horizon=20))
    run(executor, 10)
    assert executor.accept(_chunk(2, start=2, source=1, horizon=4)) == 4
    assert executor.passed_chunks == 1 and executor.dropped_actions == 4
    results = run(executor, 2)
    assert all(r.hold_reason is HoldReason.NO_ACTION for r in results)  # nothing of it runs
