"""The asynchronous-inference loop: one sequence for the node and the simulator, across clocks."""

from __future__ import annotations

import numpy as np
import pytest

from vlash_core.action_space import ActionSpace
from vlash_core.executor_report import ExecutorReport
from vlash_core.safety_limits import SafetyLimits
from vlash_core.strategies import get_strategy
from vlash_policy.inference_loop import InferenceLoop, LoopSettings

JOINTS = 2
PERIOD = 0.1
HORIZON = 4


def _settings(**overrides) -> LoopSettings:
    values = dict(
        strategy=get_strategy("vlash"),
        action_space=ActionSpace.ABSOLUTE,
        joint_count=JOINTS,
        horizon=HORIZON,
        fixed_delay_steps=1,
        measure_delay=False,
    )
    return LoopSettings(**{**values, **overrides})


def _limits(max_step: float = 1.0) -> SafetyLimits:
    return SafetyLimits.create(JOINTS, lower=[-3, -3], upper=[3, 3], max_step_per_tick=max_step)


def _holding(step: int, held=(0.0, 0.0)) -> ExecutorReport:
    return ExecutorReport(
        step=step,
        steps=[],
        chunk_ids=[],
        indices=[],
        commands=np.empty((0, JOINTS)),
        holding=True,
        steps_left=0,
        command_in_force=np.array(held),
    )


def _report(loop: InferenceLoop, report: ExecutorReport, limits=None):
    return loop.on_report(
        report, stamp_s=report.step * PERIOD, control_period_s=PERIOD, limits=limits or _limits()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fixed_delay_steps": 5}, r"fixed_delay_steps=5 must be in \[0, 4\]"),
        ({"execution_horizon": 0}, r"execution_horizon=0 must be in \[1, 4\]"),
        ({"quantization": 5}, r"quantization=5 must be in \[1, 4\]: the checkpoint's chunks"),
        ({"joint_count": 0}, r"joint_count=0 must be >= 1"),
    ],
)
def test_settings_refuse_steps_the_horizon_makes_meaningless(overrides, message):
    with pytest.raises(ValueError, match=message):
        _settings(**overrides)


def test_nothing_to_plan_before_the_first_report():
    loop = InferenceLoop(_settings())
    assert not loop.wants_inference()
    assert loop.latest_step is None and loop.limits is None
    with pytest.raises(RuntimeError, match="before any executor report"):
        loop.start(0, np.zeros(JOINTS))


def test_one_inference_at_a_time_and_the_chunk_goes_out_as_float32():
    loop = InferenceLoop(_settings())
    outcome = _report(loop, _holding(0))
    assert outcome.limits_changed and outcome.restarted_from_step is None
    assert loop.wants_inference()
    ticket = loop.start(1, np.zeros(JOINTS))
    assert ticket.request.source_step == 1 and ticket.request.start_step == 2
    _report(loop, _holding(1))
    assert not loop.wants_inference()  # the inference is still running
    sent = []
    actions = np.full((HORIZON, JOINTS), 0.1, dtype=np.float64)
    chunk = loop.deliver(ticket, actions, latency_s=0.05, send=sent.append)
    assert chunk is not None and sent == [chunk]
    assert chunk.chunk_id == 1 and chunk.actions.dtype == np.float32
    np.testing.assert_array_equal(chunk.actions, actions.astype(np.float32))


def test_a_source_step_a_chunk_came_from_is_not_inferred_from_again():
    loop = InferenceLoop(_settings())
    _report(loop, _holding(0))
    _report(loop, _holding(1))
    assert not loop.has_chunk_from(1)
    ticket = loop.start(1, np.zeros(JOINTS))
    # Δ counts from the tick of the source step, as the executor stamped its report.
    assert ticket.source_tick_s == 1 * PERIOD
    assert ticket.latency_origin_s(observation_stamp_s=0.95 * PERIOD) == 1 * PERIOD
    assert not loop.has_chunk_from(1)  # nothing sent yet
    loop.deliver(ticket, np.zeros((HORIZON, JOINTS)), 0.05)
    assert loop.has_chunk_from(1) and loop.has_chunk_from(0)
    assert not loop.has_chunk_from(2)
    # A failed inference sent nothing: its source step may be inferred from again.
    failed = loop.start(2, np.zeros(JOINTS))
    loop.fail(failed)
    assert not loop.has_chunk_from(2)
    # A restarted executor's steps are new: nothing was sent on its clock yet.
    _report(loop, _holding(0))
    assert loop.epoch == 2 and not loop.has_chunk_from(1)


def test_a_ticket_has_no_source_tick_when_that_tick_was_not_reported():
    loop = InferenceLoop(_settings())
    _report(loop, _holding(0))
    _report(loop, _holding(2))
    ticket = loop.start(1, np.zeros(JOINTS))
    assert ticket.source_tick_s is None
    # Δ then counts from the observation, which precedes the unreported tick.
    assert ticket.latency_origin_s(observation_stamp_s=0.95 * PERIOD) == 0.95 * PERIOD


def test_a_failed_inference_lets_the_next_one_start():
    loop = InferenceLoop(_settings())
    _report(loop, _holding(0))
    ticket = loop.start(1, np.zeros(JOINTS))
    _report(loop, _holding(1))
    assert not loop.wants_inference()
    loop.fail(ticket)
    assert loop.wants_inference()


def test_an_executor_restart_drops_the_chunk_of_the_old_clock():
    loop = InferenceLoop(_settings())
    for step in range(5):
        _report(loop, _holding(step))
    old = loop.start(5, np.zeros(JOINTS))
    outcome = _report(loop, _holding(0))
    assert outcome.restarted_from_step == 4 and loop.epoch == 2
    sent = []
    assert loop.deliver(old, np.zeros((HORIZON, JOINTS)), 0.05, send=sent.append) is None
    assert sent == []
    # The new clock's planner never waited for the dropped chunk.
    assert loop.wants_inference()
    assert loop.start(1, np.zeros(JOINTS)).request.source_step == 1


def test_the_roll_forward_applies_the_limits_the_executor_reports():
    loop = InferenceLoop(_settings(fixed_delay_steps=2))
    _report(loop, _holding(0))
    first = loop.start(1, np.zeros(JOINTS))
    loop.deliver(first, np.full((HORIZON, JOINTS), 1.0), 0.05)
    slow = _limits(max_step=0.25)
    assert _report(loop, _holding(1), slow).limits_changed
    assert not _report(loop, _holding(2), slow).limits_changed
    assert loop.limits is slow
    # The chunk starts at step 3 = t + Δ of its request. Rolled for t = 3, Δ = 2 over its first
    # two actions at 0.25 rad per tick from the command held at 0: s_5 = 0.5, not 1.0.
    rolled = loop.start(3, np.zeros(JOINTS)).request.rolled_state
    np.testing.assert_allclose(rolled, [0.5, 0.5])
