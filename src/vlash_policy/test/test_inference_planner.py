"""Tests for vlash_policy.inference_planner (VLASH Sec. 3-4.4 bookkeeping in executor steps)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_core.action_space import ActionSpace
from vlash_core.executor_report import ExecutorReport
from vlash_core.safety_limits import SafetyLimits
from vlash_core.strategies import get_strategy
from vlash_policy.inference_planner import InferencePlanner, StepClock
from vlash_policy.timeline import DelayEstimator

PERIOD = 0.1


def _planner(
    strategy: str = "vlash",
    *,
    delay: int | None = 3,
    space: ActionSpace = ActionSpace.ABSOLUTE,
    joints: int = 2,
    q: int = 1,
    margin: int = 0,
    **kwargs,
) -> InferencePlanner:
    return InferencePlanner(
        strategy=get_strategy(strategy),
        delay=DelayEstimator(control_period_s=PERIOD, max_steps=50, fixed_delay=delay),
        action_space=space,
        joint_count=joints,
        margin_steps=margin,
        quantization=q,
        **kwargs,
    )


def _report(entries, *, step=None, steps_left=0, running=None, held=None) -> ExecutorReport:
    """ExecutorReport from (step, chunk_id, micro_index, command) entries.

    The command in force after it is ``held``, by default the last entry's command.
    """
    entries = list(entries)
    if step is None:
        step = entries[-1][0]
    commands = np.array([e[3] for e in entries], dtype=np.float64).reshape(len(entries), 2)
    if held is None and entries:
        held = commands[-1]
    return ExecutorReport(
        step=step,
        steps=[e[0] for e in entries],
        chunk_ids=[e[1] for e in entries],
        indices=[e[2] for e in entries],
        commands=commands,
        holding=not entries,
        steps_left=steps_left,
        running_chunk_id=running,
        command_in_force=held,
    )


def _feed(planner: InferencePlanner, entries, **kwargs) -> None:
    report = _report(entries, **kwargs)
    planner.on_feedback(report, stamp_s=report.step * PERIOD)


# ---------------------------------------------------------------------------------------------
# StepClock


def test_step_clock_maps_stamps_between_ticks_to_the_next_step():
    clock = StepClock()
    for step, stamp in [(5, 1.0), (6, 1.1), (7, 1.2)]:
        clock.add_tick(stamp, step)
    # Between the ticks of steps 5 and 6: the robot is past command 5, before command 6.
    assert clock.source_step(1.05) == 6
    assert clock.source_step(1.0) == 6
    assert clock.source_step(1.1) == 7
    assert clock.source_step(1.19) == 7
    assert clock.latest_stamp == 1.2


def test_step_clock_knows_the_stamp_of_each_reported_tick_only():
    clock = StepClock()
    for step, stamp in [(5, 1.0), (6, 1.1), (8, 1.3)]:
        clock.add_tick(stamp, step)
    assert [clock.tick_stamp(step) for step in (5, 6, 8)] == [1.0, 1.1, 1.3]
    # Step 7's report never came; steps outside the history were never reported.
    assert clock.tick_stamp(7) is None
    assert clock.tick_stamp(4) is None and clock.tick_stamp(9) is None


@pytest.mark.parametrize("stamp", [0.5, 0.999, 1.2, 1.5])
def test_step_clock_refuses_stamps_not_bracketed_by_ticks(stamp):
    clock = StepClock()
    for step, s in [(5, 1.0), (6, 1.1), (7, 1.2)]:
        clock.add_tick(s, step)
    assert clock.source_step(stamp) is None


def test_step_clock_empty_and_stale_ticks():
    clock = StepClock()
    assert clock.latest_stamp is None
    assert clock.source_step(0.0) is None
    clock.add_tick(1.0, 3)
    clock.add_tick(1.1, 4)
    # A repeated or older step (re-delivered feedback) must not move the clock backwards.
    clock.add_tick(1.2, 4)
    clock.add_tick(1.3, 2)
    assert clock.latest_stamp == 1.1
    assert clock.source_step(1.05) == 4


def test_step_clock_capacity_forgets_oldest_ticks():
    clock = StepClock(capacity=2)
    for step in range(4):
        clock.add_tick(float(step), step)
    assert clock.source_step(1.5) is None
    assert clock.source_step(2.5) == 3
    with pytest.raises(ValueError, match="capacity must be >= 2, got 1"):
        StepClock(capacity=1)


@settings(max_examples=25, deadline=None)
@given(
    first=st.integers(0, 1000),
    gaps=st.lists(st.floats(1e-3, 1.0), min_size=2, max_size=10),
    k=st.integers(0, 100),
    frac=st.floats(0.0, 0.999),
)
def test_step_clock_property(first, gaps, k, frac):
    stamps = np.cumsum([0.0, *gaps])
    clock = StepClock()
    for i, s in enumerate(stamps):
        clock.add_tick(float(s), first + i)
    k %= len(stamps) - 1
    stamp = stamps[k] + frac * (stamps[k + 1] - stamps[k])
    if stamp >= stamps[k + 1]:  # float rounding of the interpolation
        return
    assert clock.source_step(float(stamp)) == first + k + 1


# ---------------------------------------------------------------------------------------------
# Roll-forward over executed actions and the planned remainder (VLASH Sec. 4.1)

CHUNK = np.arange(16, dtype=np.float64).reshape(8, 2) * 0.1 + np.array([1.0, -1.0])


def test_vlash_absolute_uses_executed_then_planned_actions():
    planner = _planner("vlash", delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    clamped = CHUNK[2] + 0.5  # what the executor really commanded differs from the plan
    _feed(planner, [(10, 0, 0, CHUNK[0]), (11, 0, 1, CHUNK[1]), (12, 0, 2, clamped)])

    measured = np.array([0.3, 0.4])
    req = planner.plan(source_step=12, measured_state=measured)
    assert req.source_step == 12
    assert req.start_step == 15  # VLASH: t + Δ
    assert req.delay_steps == 3
    assert req.rollout.steps.tolist() == [12, 13, 14]
    assert req.rollout.executed.tolist() == [True, False, False]
    assert req.rollout.indices.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(req.rollout.commands, [clamped, CHUNK[3], CHUNK[4]])
    np.testing.assert_array_equal(req.rolled_state, CHUNK[4])  # absolute: last target
    np.testing.assert_array_equal(req.conditioning_state, CHUNK[4])
    np.testing.assert_array_equal(req.measured_state, measured)
    assert req.previous_chunk is None
    assert req.previous_valid == 0


def test_executed_action_beats_plan_in_absolute_rollout_end():
    planner = _planner("vlash", delay=2)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    clamped = CHUNK[3] - 0.25
    _feed(planner, [(10, 0, 0, CHUNK[0]), (11, 0, 1, CHUNK[1])])
    _feed(planner, [(12, 0, 2, CHUNK[2]), (13, 0, 3, clamped)])
    req = planner.plan(source_step=12, measured_state=np.zeros(2))
    np.testing.assert_array_equal(req.rolled_state, clamped)
    assert req.rollout.executed.tolist() == [True, True]


def test_delta_plan_continues_from_the_last_reported_command():
    # The executor adds a delta to its previous command, so the planned deltas continue from
    # the last command it reported (which a limit may have cut short), not from the plan.
    planner = _planner("vlash", delay=4, space=ActionSpace.DELTA)
    deltas = np.full((8, 2), 0.1) * np.array([1.0, -2.0])
    planner.on_published(chunk_id=0, start_step=10, actions=deltas)
    c = [np.array([1.0, 1.0]), np.array([1.05, 0.9]), np.array([1.2, 0.5])]
    _feed(planner, [(10, 0, 0, c[0]), (11, 0, 1, c[1])])
    _feed(planner, [(12, 0, 2, c[2])])

    s = np.array([1.0, 1.0])
    req = planner.plan(source_step=11, measured_state=s)
    assert req.rollout.executed.tolist() == [True, True, False, False]
    np.testing.assert_array_equal(req.rollout.commands[:2], [c[1], c[2]])
    expected = c[2] + deltas[3] + deltas[4]
    np.testing.assert_allclose(req.rolled_state, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(req.conditioning_state, expected, rtol=0, atol=1e-15)


def test_delta_rolled_state_is_the_reported_command_not_the_measured_sum():
    # The measured state lags the command (tracking error); the executor's command is what
    # the robot is sent at t + Δ - 1, and the rollout's last row is exactly that.
    planner = _planner("vlash", delay=2, space=ActionSpace.DELTA)
    deltas = np.array([[0.5, 0.0], [0.0, 0.25], [1.0, 1.0]])
    planner.on_published(chunk_id=0, start_step=10, actions=deltas)
    _feed(planner, [(10, 0, 0, [2.5, 3.0]), (11, 0, 1, [2.5, 3.25])])
    req = planner.plan(source_step=10, measured_state=np.array([2.0, 3.0]))
    assert req.rollout.executed.tolist() == [True, True]
    np.testing.assert_array_equal(req.rolled_state, [2.5, 3.25])


def test_quantized_delta_rollout_uses_macro_actions():
    # VLASH Sec. 4.4, Eq. (5): q = 2 merges micro-actions (0,1), (2,3), (4,5), (6).
    micro = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 2.0], [4.0, 4.0], [8.0, 8.0]])
    micro = np.vstack([micro, [[16.0, -16.0]]])
    macro = np.array([[3.0, 0.0], [0.0, 3.0], [12.0, 12.0], [16.0, -16.0]])
    planner = _planner("vlash", delay=3, space=ActionSpace.DELTA, q=2)
    planner.on_published(chunk_id=4, start_step=20, actions=micro)
    # The executor reports the last micro index merged into each command: 1 at step 20, 3 at 21.
    _feed(planner, [(20, 4, 1, [3.0, 0.0]), (21, 4, 3, [3.0, 2.5])])
    s = np.array([3.0, 0.0])
    req = planner.plan(source_step=21, measured_state=s)
    assert req.start_step == 24
    assert req.rollout.steps.tolist() == [21, 22, 23]
    assert req.rollout.indices.tolist() == [1, 2, 3]  # macro indices, micro // q
    assert req.rollout.executed.tolist() == [True, False, False]
    np.testing.assert_allclose(
        req.rollout.commands[1:], [[3.0, 2.5] + macro[2], [3.0, 2.5] + macro[2] + macro[3]]
    )
    np.testing.assert_allclose(req.rolled_state, s + [0.0, 2.5] + macro[2] + macro[3])


def test_quantized_trailing_block_maps_to_its_macro_index():
    micro = np.arange(10, dtype=np.float64).reshape(5, 2)
    planner = _planner("vlash", delay=1, q=2)
    planner.on_published(chunk_id=1, start_step=0, actions=micro)
    _feed(planner, [(0, 1, 1, micro[1]), (1, 1, 3, micro[3]), (2, 1, 4, micro[4])])
    req = planner.plan(source_step=2, measured_state=np.zeros(2))
    assert req.rollout.indices.tolist() == [2]
    np.testing.assert_array_equal(req.rolled_state, micro[4])


def test_state_longer_than_action_rolls_leading_joint_entries():
    planner = _planner("vlash", delay=2, space=ActionSpace.DELTA)
    deltas = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    planner.on_published(chunk_id=0, start_step=0, actions=deltas)
    req = planner.plan(source_step=0, measured_state=np.array([1.0, 1.0, 7.0]))
    np.testing.assert_allclose(req.rolled_state, [1.4, 1.6, 7.0])


def test_joint_limits_clamp_the_planned_rollout():
    planner = _planner("vlash", delay=3, space=ActionSpace.DELTA, lower=[-1.0, -1.0], upper=1.0)
    deltas = np.array([[0.8, -0.8], [0.8, -0.8], [-0.5, 0.5]])
    planner.on_published(chunk_id=0, start_step=0, actions=deltas)
    req = planner.plan(source_step=0, measured_state=np.zeros(2))
    np.testing.assert_allclose(req.rolled_state, [0.5, -0.5])


def test_velocity_limit_clamps_the_planned_rollout_from_the_last_reported_command():
    # The executor moves at most max_step_per_tick per step from its previous command; a plan
    # asking for more is rolled forward as the executor will really command it.
    planner = _planner("vlash", delay=3, lower=-2.0, upper=2.0, max_step_per_tick=[0.1, 0.25])
    planner.on_published(chunk_id=0, start_step=10, actions=np.full((8, 2), 1.5))
    _feed(planner, [(10, 0, 0, [0.0, 0.0])])  # the executor's first command, far from 1.5
    req = planner.plan(source_step=11, measured_state=np.zeros(2))
    assert req.rollout.executed.tolist() == [False, False, False]
    np.testing.assert_allclose(req.rollout.commands, [[0.1, 0.25], [0.2, 0.5], [0.3, 0.75]])
    np.testing.assert_array_equal(req.rolled_state, req.rollout.commands[-1])


def test_before_any_command_the_plan_starts_from_the_measured_hold_position():
    # The executor seeds its hold position from the measured joints, clipped into the limits;
    # its first command moves from there within one step.
    planner = _planner(
        "vlash", delay=2, space=ActionSpace.DELTA, lower=-1.0, upper=1.0, max_step_per_tick=0.2
    )
    planner.on_published(chunk_id=0, start_step=0, actions=np.array([[-0.5, 0.5], [-0.5, 0.5]]))
    req = planner.plan(source_step=0, measured_state=np.array([1.4, 0.0]))
    np.testing.assert_allclose(req.rollout.commands, [[0.8, 0.2], [0.6, 0.4]])


def test_sync_rollout_stops_after_the_execution_horizon():
    # The executor cuts a sync chunk at K and holds; the plan must not run past K either.
    planner = _planner("sync", delay=5, execution_horizon=2)
    planner.on_published(chunk_id=0, start_step=0, actions=CHUNK)
    req = planner.plan(source_step=0, measured_state=np.zeros(2))
    assert req.rollout.steps.tolist() == [0, 1]
    np.testing.assert_array_equal(req.rolled_state, CHUNK[1])


def test_reported_holds_are_not_replaced_by_the_plan():
    # Steps the executor reported without an action (it held) stay holds in the rollout.
    planner = _planner("vlash", delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    _feed(planner, [(10, 0, 0, CHUNK[0])])
    _feed(planner, [], step=11)  # e.g. joint states went stale: the executor held
    req = planner.plan(source_step=11, measured_state=CHUNK[0])
    assert req.rollout.steps.tolist() == [12, 13]
    assert req.rollout.indices.tolist() == [2, 3]


def test_naive_async_uses_the_executed_start_not_the_planned_one():
    # naive_async: the chunk conditioned at step 5 starts executing on arrival at step 9.
    planner = _planner("naive_async", delay=2)
    planner.on_published(chunk_id=0, start_step=5, actions=CHUNK)
    _feed(planner, [(9, 0, 0, CHUNK[0])])
    req = planner.plan(source_step=10, measured_state=np.zeros(2))
    assert req.start_step == 10  # aligned with the observation
    assert req.rollout.indices.tolist() == [1, 2]
    np.testing.assert_array_equal(req.rolled_state, CHUNK[2])
    # Stale by d steps: the command in force at the observation, not the measured lagging arm.
    np.testing.assert_array_equal(req.conditioning_state, CHUNK[0])


def test_rtc_effective_start_from_dropped_overlap():
    # rtc: chunk aligned with step 10 whose first 3 actions were late; action 3 ran at step 13.
    planner = _planner("rtc", delay=3)
    planner.on_published(chunk_id=2, start_step=10, actions=CHUNK)
    _feed(planner, [(13, 2, 3, CHUNK[3])])
    req = planner.plan(source_step=14, measured_state=np.zeros(2))
    assert req.rollout.indices.tolist() == [4, 5, 6]


def test_rollout_after_the_chunk_ends_holds():
    planner = _planner("vlash", delay=5)
    planner.on_published(chunk_id=0, start_step=0, actions=CHUNK[:3])
    req = planner.plan(source_step=1, measured_state=np.zeros(2))
    assert req.rollout.steps.tolist() == [1, 2]
    np.testing.assert_array_equal(req.rolled_state, CHUNK[2])


def test_no_chunk_rolls_nothing():
    planner = _planner("vlash", delay=3)
    s = np.array([0.1, 0.2])
    req = planner.plan(source_step=7, measured_state=s)
    assert req.start_step == 10
    assert len(req.rollout) == 0
    assert req.rollout.commands.shape == (0, 2)
    np.testing.assert_array_equal(req.rolled_state, s)


@pytest.mark.parametrize("space", list(ActionSpace))
def test_holding_window_rolls_to_the_command_in_force_not_the_measured_state(space):
    # The chunk ran out at step 11; the arm lags its last command. Nothing runs in [12, 15), so
    # the executor commands CHUNK[1] at step 14 and that, not the lagging measurement, is s_15.
    planner = _planner("vlash", delay=3, space=space)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK[:2])
    _feed(planner, [(10, 0, 0, CHUNK[0]), (11, 0, 1, CHUNK[1])])
    req = planner.plan(source_step=12, measured_state=CHUNK[1] - 0.05)
    assert len(req.rollout) == 0
    np.testing.assert_array_equal(req.rolled_state, CHUNK[1])


def test_empty_window_of_an_older_observation_holds_the_command_before_it():
    # Δ = 0 for an observation preceding step 11, reported already: s_11 is step 10's command.
    planner = _planner("vlash", delay=0)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK[:2])
    _feed(planner, [(10, 0, 0, CHUNK[0]), (11, 0, 1, CHUNK[1])])
    req = planner.plan(source_step=11, measured_state=np.zeros(2))
    np.testing.assert_array_equal(req.rolled_state, CHUNK[0])
    before_any = planner.plan(source_step=10, measured_state=np.full(2, 0.5))
    np.testing.assert_array_equal(before_any.rolled_state, [0.5, 0.5])  # the seed is unknown


def test_limits_reported_later_apply_to_the_next_plan():
    planner = _planner("vlash", delay=2)
    planner.on_published(chunk_id=0, start_step=0, actions=np.full((4, 2), 1.0))
    assert not np.isfinite(planner.limits.max_step).any()
    planner.limits = SafetyLimits.create(2, lower=-2.0, upper=2.0, max_step_per_tick=0.25)
    req = planner.plan(source_step=0, measured_state=np.zeros(2))
    np.testing.assert_allclose(req.rollout.commands, [[0.25, 0.25], [0.5, 0.5]])
    with pytest.raises(ValueError, match="limits cover 3 joints, the planner plans 2"):
        planner.limits = SafetyLimits.create(3)


def test_newest_published_chunk_is_the_plan_once_running_chunk_is_older():
    planner = _planner("vlash", delay=2)
    planner.on_published(chunk_id=0, start_step=0, actions=CHUNK)
    _feed(planner, [(0, 0, 0, CHUNK[0]), (1, 0, 1, CHUNK[1])])
    newer = CHUNK + 10.0
    planner.on_published(chunk_id=1, start_step=3, actions=newer)
    req = planner.plan(source_step=2, measured_state=np.zeros(2))
    # Chunk 1 waits for its start step 3, so chunk 0 still runs step 2.
    assert req.rollout.steps.tolist() == [2, 3]
    assert req.rollout.chunk_ids.tolist() == [0, 1]
    assert req.rollout.indices.tolist() == [2, 0]
    np.testing.assert_array_equal(req.rolled_state, newer[0])


@pytest.mark.parametrize(
    ("name", "rolled", "start_offset"),
    [("vlash", True, 3), ("naive_async", False, 0), ("rtc", False, 0), ("sync", False, 0)],
)
def test_conditioning_state_per_strategy(name, rolled, start_offset):
    planner = _planner(name, delay=3, space=ActionSpace.DELTA)
    deltas = np.ones((6, 2))
    planner.on_published(chunk_id=0, start_step=4, actions=deltas)
    _feed(planner, [(4, 0, 0, [1.0, 1.0]), (5, 0, 1, [2.0, 2.0])])
    # The arm lags its last command [2, 2]: every strategy conditions on the command.
    s = np.array([1.5, 1.5])
    req = planner.plan(source_step=6, measured_state=s)
    assert req.start_step == 6 + start_offset
    np.testing.assert_allclose(req.rolled_state, [5.0, 5.0])
    np.testing.assert_allclose(req.conditioning_state, [5.0, 5.0] if rolled else [2.0, 2.0])


def test_conditioning_is_the_measured_state_before_any_command():
    planner = _planner("sync", delay=2)
    req = planner.plan(source_step=0, measured_state=np.array([0.3, -0.2]))
    np.testing.assert_array_equal(req.conditioning_state, [0.3, -0.2])


# The property that s_{t+Δ} is exactly the executor's command at t + Δ - 1, with the velocity
# limit binding and q = 1..3, runs the real ChunkExecutor next to this planner:
# vlash_executor/test/test_chunk_executor.py (the executor package depends on this one).


# ---------------------------------------------------------------------------------------------
# RTC alignment of the running chunk


def test_rtc_previous_chunk_aligned_with_new_chunk_rows():
    planner = _planner("rtc", delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    _feed(planner, [(s, 0, s - 10, CHUNK[s - 10]) for s in range(10, 14)])
    req = planner.plan(source_step=14, measured_state=np.zeros(2))
    assert req.start_step == 14
    # Row i of the new chunk is step 14 + i, where the running chunk has action 4 + i.
    np.testing.assert_array_equal(req.previous_chunk, CHUNK[4:])
    assert req.previous_valid == 4
    req.previous_chunk[0] = 99.0
    again = planner.plan(source_step=14, measured_state=np.zeros(2))
    np.testing.assert_array_equal(again.previous_chunk, CHUNK[4:])


def test_rtc_previous_chunk_past_the_end_is_none():
    planner = _planner("rtc", delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    req = planner.plan(source_step=30, measured_state=np.zeros(2))
    assert req.previous_chunk is None
    assert req.previous_valid == 0


def test_rtc_previous_chunk_not_shifted_when_new_chunk_starts_earlier():
    planner = _planner("rtc", delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    req = planner.plan(source_step=8, measured_state=np.zeros(2))
    assert req.previous_chunk is None
    assert req.previous_valid == 0


def test_rtc_without_running_chunk_has_no_previous():
    req = _planner("rtc", delay=3).plan(source_step=8, measured_state=np.zeros(2))
    assert req.previous_chunk is None
    assert req.previous_valid == 0


@pytest.mark.parametrize("name", ["vlash", "naive_async", "sync"])
def test_only_rtc_gets_a_previous_chunk(name):
    planner = _planner(name, delay=3)
    planner.on_published(chunk_id=0, start_step=10, actions=CHUNK)
    req = planner.plan(source_step=12, measured_state=np.zeros(2))
    assert req.previous_chunk is None
    assert req.previous_valid == 0


# ---------------------------------------------------------------------------------------------
# Trigger and delay estimation


def test_inference_waits_for_the_executors_seed_then_starts_once():
    # An executor that has no joint state yet holds no command: the first chunk's roll-forward
    # could only guess the joint sample it will seed from.
    planner = _planner("sync")
    assert planner.latest_step is None
    assert not planner.should_start_inference()
    _feed(planner, [], step=0, held=None)
    assert not planner.should_start_inference()
    _feed(planner, [], step=1, held=np.zeros(2))
    assert planner.should_start_inference()
    planner.mark_started()
    assert planner.inference_in_flight
    assert not planner.should_start_inference()


def test_sync_triggers_only_when_exhausted():
    planner = _planner("sync", delay=3, margin=2)
    planner.on_published(chunk_id=0, start_step=0, actions=CHUNK)
    for step, left in [(0, 7), (1, 6), (4, 3), (6, 1)]:
        _feed(planner, [(step, 0, step, CHUNK[step])], steps_left=left, running=0)
        assert not planner.should_start_inference(), (step, left)
    _feed(planner, [(7, 0, 7, CHUNK[7])], steps_left=0, running=0)
    assert planner.latest_step == 7
    assert planner.should_start_inference()


@pytest.mark.parametrize("name", ["vlash", "naive_async", "rtc"])
def test_async_triggers_when_remainder_covers_delay_plus_margin(name):
    planner = _planner(name, delay=3, margin=1)
    planner.on_published(chunk_id=0, start_step=0, actions=CHUNK)
    _feed(planner, [(0, 0, 0, CHUNK[0])], steps_left=5, running=0)
    assert not planner.should_start_inference()
    _feed(planner, [(1, 0, 1, CHUNK[1])], steps_left=4, running=0)
    assert planner.should_start_inference()


def test_published_chunk_blocks_trigger_until_executor_shows_it():
    planner = _planner("sync", delay=3)
    _feed(planner, [], step=0, steps_left=0, running=-1, held=np.zeros(2))
    assert planner.should_start_inference()
    planner.mark_started()
    planner.on_published(chunk_id=5, start_step=1, actions=CHUNK)
    planner.mark_finished(0.3)
    # The next report still predates the chunk's arrival: steps_left = 0 is stale.
    _feed(planner, [], step=1, steps_left=0, running=-1)
    assert not planner.should_start_inference()
    _feed(planner, [], step=2, steps_left=8, running=5)
    assert not planner.should_start_inference()
    _feed(planner, [(3, 5, 0, CHUNK[0])], steps_left=0, running=5)
    assert planner.should_start_inference()


def test_executed_entry_acknowledges_chunk():
    planner = _planner("vlash", delay=3)
    _feed(planner, [], step=0)
    planner.on_published(chunk_id=1, start_step=1, actions=CHUNK[:2])
    _feed(planner, [(1, 1, 0, CHUNK[0])], steps_left=1)
    assert planner.should_start_inference()


def test_lost_chunk_stops_blocking_after_two_ticks():
    planner = _planner("sync", delay=3)
    _feed(planner, [], step=10, running=-1, held=np.zeros(2))
    planner.on_published(chunk_id=1, start_step=11, actions=CHUNK)
    _feed(planner, [], step=11, running=-1)
    assert not planner.should_start_inference()
    _feed(planner, [], step=12, running=-1)
    assert planner.should_start_inference()


def test_mark_finished_feeds_the_delay_estimator():
    planner = InferencePlanner(
        strategy=get_strategy("vlash"),
        delay=DelayEstimator(control_period_s=PERIOD, max_steps=20, initial_delay=1),
        action_space=ActionSpace.ABSOLUTE,
        joint_count=2,
    )
    req = planner.plan(source_step=5, measured_state=np.zeros(2))
    assert (req.delay_steps, req.start_step) == (1, 6)
    planner.mark_started()
    planner.mark_finished(None)  # failed inference: no latency sample
    assert planner.delay.latencies == ()
    assert not planner.inference_in_flight
    planner.mark_started()
    planner.mark_finished(0.25)
    assert planner.delay.latencies == (0.25,)
    assert planner.delay.delay_steps == 3  # ceil(0.25 / 0.1)
    req = planner.plan(source_step=5, measured_state=np.zeros(2))
    assert (req.delay_steps, req.start_step) == (3, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"joints": 0}, "joint_count must be >= 1, got 0"),
        ({"margin": -1}, "margin_steps must be >= 0, got -1"),
        ({"q": 0}, "quantization must be >= 1, got 0"),
        ({"strategy": "rtc", "q": 2}, "needs quantization 1, got 2"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _planner(**kwargs)
