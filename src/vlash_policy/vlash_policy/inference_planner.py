"""Policy-side bookkeeping of asynchronous inference, in executor control steps, without ROS.

The executor owns the clock and reports, tick by tick, which action it commanded at which step
(``ExecutedActions``). From those reports this module

- maps an observation's time stamp to the exact executor step it precedes (:class:`StepClock`),
- decides when the next inference starts (the switching strategy's rule with the measured Δ),
- rolls the measured state forward over the actions of ``[t, t+Δ)`` (VLASH Sec. 4.1), using the
  commands the executor reported and the planned remainder of the running chunk, executed
  through the executor's own safety pipeline (:mod:`vlash_core.safety_limits`) with the
  executor's limits, so ``s_{t+Δ}`` is the position the executor commands at step ``t+Δ-1``,
- aligns the running chunk with the new one for Real-Time Chunking guidance.

Everything is integer step arithmetic; wall-clock time only enters through the latency sample
that sets Δ (:class:`~vlash_policy.timeline.DelayEstimator`).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace
from vlash_core.executor_report import ExecutorReport
from vlash_core.quantization import quantize_actions
from vlash_core.rollforward import (
    ExecutedAction,
    PlannedChunk,
    Rollout,
    plan_at,
    resolve_state_index_map,
    roll_out,
)
from vlash_core.safety_limits import PerJoint, SafetyLimits
from vlash_core.strategies import SwitchingStrategy
from vlash_policy.timeline import DelayEstimator

_ACK_TICKS = 2


class StepClock:
    """Maps time stamps to executor steps from the (tick stamp, step) pairs of the feedback."""

    def __init__(self, *, capacity: int = 4096) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        self._capacity = capacity
        self._stamps: list[float] = []
        self._steps: list[int] = []

    def add_tick(self, stamp_s: float, step: int) -> None:
        """Record that the executor commanded ``step`` at ``stamp_s`` (ticks arrive in order)."""
        if self._steps and step <= self._steps[-1]:
            return
        self._stamps.append(float(stamp_s))
        self._steps.append(int(step))
        if len(self._steps) > self._capacity:
            del self._stamps[0], self._steps[0]

    @property
    def latest_stamp(self) -> float | None:
        return self._stamps[-1] if self._stamps else None

    def tick_stamp(self, step: int) -> float | None:
        """Stamp of the tick of ``step`` (None when no report of that step is known)."""
        i = bisect.bisect_left(self._steps, step)
        return self._stamps[i] if i < len(self._steps) and self._steps[i] == step else None

    def source_step(self, stamp_s: float) -> int | None:
        """Step whose action follows an observation taken at ``stamp_s``.

        An observation between the ticks of steps ``n`` and ``n+1`` shows the robot after the
        command of step ``n`` and before that of ``n+1``, so it is the state ``s_{n+1}``. Returns
        None when the stamp is not bracketed by known ticks yet (the answer would be a guess).
        """
        i = bisect.bisect_right(self._stamps, stamp_s)
        if i == 0 or i == len(self._stamps):
            return None
        return self._steps[i - 1] + 1


@dataclass(frozen=True)
class InferenceRequest:
    """Everything the model needs to infer one chunk, with the step bookkeeping of the result."""

    source_step: int
    """t: the step the observation precedes."""
    start_step: int
    """Step at which action 0 of the new chunk is planned to execute."""
    delay_steps: int
    measured_state: np.ndarray
    rolled_state: np.ndarray
    """s_{t+Δ}: the command in force after step t+Δ-1, as the executor reported it or as the
    roll-forward predicts it from the last one reported; the measured state while the executor
    holds nothing yet."""
    rollout: Rollout
    conditioning_state: np.ndarray
    """The state the model is conditioned on: rolled for ``vlash``; otherwise the command in force
    before t (the measured state before any command is known)."""
    previous_chunk: np.ndarray | None
    """For ``rtc``: the running chunk's actions aligned with the new chunk's indices."""
    previous_valid: int
    """Number of leading rows of ``previous_chunk`` that come from the running chunk."""


@dataclass
class _Published:
    chunk_id: int
    start_step: int
    macro_actions: np.ndarray


class InferencePlanner:
    """Decides when to infer and prepares step-exact requests from executor feedback."""

    def __init__(
        self,
        *,
        strategy: SwitchingStrategy,
        delay: DelayEstimator,
        action_space: ActionSpace,
        joint_count: int,
        margin_steps: int = 0,
        execution_horizon: int | None = None,
        quantization: int = 1,
        lower: PerJoint | None = None,
        upper: PerJoint | None = None,
        max_step_per_tick: PerJoint | None = None,
        history_steps: int = 1024,
    ) -> None:
        """Plan for a policy whose chunks an executor with the given limits runs.

        Args:
            strategy, delay: the switching strategy and the Δ estimate.
            action_space, joint_count, quantization: the chunks' actions and their q.
            margin_steps: added to Δ in the inference trigger.
            execution_horizon: K (None = the whole chunk).
            lower, upper, max_step_per_tick: the executor's joint position limits and per-tick
                step limit (:class:`~vlash_core.safety_limits.SafetyLimits`; None = no limit).
                They must be the executor's for the roll-forward to be exact.
            history_steps: executed steps remembered.
        """
        if joint_count < 1:
            raise ValueError(f"joint_count must be >= 1, got {joint_count}")
        if margin_steps < 0:
            raise ValueError(f"margin_steps must be >= 0, got {margin_steps}")
        if quantization < 1:
            raise ValueError(f"quantization must be >= 1, got {quantization}")
        if execution_horizon is not None and execution_horizon < 1:
            raise ValueError(f"execution_horizon must be >= 1, got {execution_horizon}")
        if strategy.uses_guidance and quantization != 1:
            raise ValueError(
                f"strategy {strategy.name!r} guides the new chunk with the running chunk step by "
                f"step, which needs quantization 1, got {quantization}"
            )
        self.strategy = strategy
        self.delay = delay
        self._space = action_space
        self._joints = joint_count
        self._margin = margin_steps
        self._execution_horizon = execution_horizon
        self._q = quantization
        self._limits = SafetyLimits.create(
            joint_count, lower=lower, upper=upper, max_step_per_tick=max_step_per_tick
        )
        self._history = history_steps
        self.clock = StepClock()
        self._executed: OrderedDict[int, ExecutedAction] = OrderedDict()
        self._published: dict[int, _Published] = {}
        self._running_id: int | None = None
        self._effective_start: dict[int, int] = {}
        self._steps_left = 0
        self._step: int | None = None
        # Step -> the command in force after it: the one executed there, or the one the executor
        # reported holding (its seed from the arm and re-seeds included).
        self._in_force: OrderedDict[int, np.ndarray] = OrderedDict()
        self._in_flight = False
        # (chunk id, latest reported step) of a published chunk the executor has not shown yet.
        self._unacknowledged: tuple[int, int | None] | None = None

    @property
    def latest_step(self) -> int | None:
        return self._step

    @property
    def limits(self) -> SafetyLimits:
        """The executor limits the roll-forward applies."""
        return self._limits

    @limits.setter
    def limits(self, limits: SafetyLimits) -> None:
        """Apply the executor's limits from now on (the executor reports them in its feedback)."""
        if limits.joint_count != self._joints:
            raise ValueError(
                f"limits cover {limits.joint_count} joints, the planner plans {self._joints}"
            )
        self._limits = limits

    @property
    def inference_in_flight(self) -> bool:
        return self._in_flight

    def on_feedback(self, report: ExecutorReport, stamp_s: float) -> None:
        """Absorb one executor report: executed actions, the running chunk and the clock."""
        self.clock.add_tick(stamp_s, report.step)
        self._step = report.step
        self._steps_left = report.steps_left
        commands = np.asarray(report.commands, dtype=np.float64).reshape(-1, self._joints)
        for step, chunk_id, micro, command in zip(
            report.steps, report.chunk_ids, report.indices, commands, strict=True
        ):
            macro = int(micro) // self._q
            self._running_id = int(chunk_id)
            self._effective_start.setdefault(int(chunk_id), int(step) - macro)
            self._executed[int(step)] = ExecutedAction(int(chunk_id), macro, command)
            self._in_force[int(step)] = command
        if report.command_in_force is not None:
            self._in_force[report.step] = np.asarray(report.command_in_force, dtype=np.float64)
        for history in (self._executed, self._in_force):
            while len(history) > self._history:
                history.popitem(last=False)
        self._acknowledge(report)

    def _acknowledge(self, report: ExecutorReport) -> None:
        """Stop waiting for a published chunk once the executor shows it (or it got lost).

        Until the executor has switched to the chunk just published, its ``steps_left`` still
        describes the previous chunk, so the trigger would fire again at once and infer a
        duplicate chunk from a stale state.
        """
        if self._unacknowledged is None:
            return
        chunk_id, published_at = self._unacknowledged
        if published_at is None:
            published_at = report.step
            self._unacknowledged = (chunk_id, published_at)
        seen = any(int(c) >= chunk_id for c in report.chunk_ids) or (
            report.running_chunk_id is not None and report.running_chunk_id >= chunk_id
        )
        # A chunk travels to the executor within a tick; one not seen after _ACK_TICKS ticks was
        # rejected or lost, and waiting longer would stall the policy.
        if seen or report.step >= published_at + _ACK_TICKS:
            self._unacknowledged = None

    def should_start_inference(self) -> bool:
        # Before the executor reports a command in force it has seeded nothing from the arm, and
        # the joint sample it will seed from is not the one this observation carries: no state
        # rolled forward from here would be the position it commands.
        if self._unacknowledged is not None or not self._in_force:
            return False
        return self.strategy.should_start_inference(
            steps_left=self._steps_left,
            delay_steps=self.delay.delay_steps,
            margin_steps=self._margin + self._unexecuted_tail(),
            inference_in_flight=self._in_flight,
            has_chunk=self._running_id is not None or bool(self._published),
        )

    def _unexecuted_tail(self) -> int:
        """Steps of the newest chunk beyond the execution horizon K.

        The executor reports steps left until the newest chunk ends, H of them for an
        asynchronous strategy; with K < H the next chunk is due after K, so inference has to start
        K - Δ steps into the chunk (VLASH Sec. 3: execution interval ``[t+Δ, t+Δ+K)``). A sync
        chunk is cut at K by the executor, so nothing is added there.
        """
        if (
            self._execution_horizon is None
            or self.strategy.stops_at_execution_horizon
            or not self._published
        ):
            return 0
        newest = self._published[max(self._published)]
        return max(0, newest.macro_actions.shape[0] - self._execution_horizon)

    def plan(self, *, source_step: int, measured_state: np.ndarray) -> InferenceRequest:
        """Build the request for an observation that precedes ``source_step``."""
        delay = self.delay.delay_steps
        start = self.strategy.planned_start_step(source_step=source_step, delay_steps=delay)
        measured = np.asarray(measured_state, dtype=np.float64)
        if measured.ndim != 1 or not np.all(np.isfinite(measured)):
            raise ValueError(f"measured_state must be 1-D and finite, got {measured.tolist()}")
        # A state longer than the action (gripper, ...) leads with the commanded joints.
        driven = resolve_state_index_map(
            None if measured.shape[0] == self._joints else range(self._joints),
            state_dim=measured.shape[0],
            action_dim=self._joints,
        )
        rollout = self._roll_out(source_step, source_step + delay, measured[driven])
        # The command in force before t is where the arm is driven (it lags its commands):
        # the state every strategy conditions on (``Episode.with_commanded_states`` trains on
        # the same), taken at t by sync and naive async, rolled forward to t+Δ by VLASH.
        current = measured.copy()
        if (held := self._command_before(source_step)) is not None:
            current[driven] = held
        rolled = current.copy()
        if len(rollout) and not rollout.executed[-1]:
            rolled[driven] = rollout.commands[-1]
        elif (held := self._command_before(source_step + delay)) is not None:
            rolled[driven] = held
        previous, valid = (
            self._aligned_previous(start) if self.strategy.uses_guidance else (None, 0)
        )
        return InferenceRequest(
            source_step=source_step,
            start_step=start,
            delay_steps=delay,
            measured_state=measured,
            rolled_state=rolled,
            rollout=rollout,
            conditioning_state=rolled if self.strategy.conditions_on_rolled_state else current,
            previous_chunk=previous,
            previous_valid=valid,
        )

    def _command_before(self, step: int) -> np.ndarray | None:
        """The command the executor reported holding after its last step before ``step``."""
        for reported_step in reversed(self._in_force):
            if reported_step < step:
                return self._in_force[reported_step]
        return None

    def mark_started(self) -> None:
        self._in_flight = True

    def mark_finished(self, latency_s: float | None) -> None:
        """The worker finished (``latency_s`` None when inference failed)."""
        self._in_flight = False
        if latency_s is not None:
            self.delay.record(latency_s)

    def on_published(self, *, chunk_id: int, start_step: int, actions: np.ndarray) -> None:
        """Remember a chunk this policy sent, to plan roll-forwards over its remainder."""
        micro = np.asarray(actions, dtype=np.float64)
        macro = quantize_actions(micro, self._q, self._space).actions
        self._published[chunk_id] = _Published(chunk_id, start_step, macro)
        self._unacknowledged = (chunk_id, self._step)
        # Keep the running chunk and the newest ones; older plans can no longer execute.
        for old in sorted(self._published)[:-4]:
            if old != self._running_id:
                del self._published[old]

    def _planned_chunks(self) -> list[PlannedChunk]:
        """The running chunk and those sent after it, each placed at its effective start.

        A chunk whose start step is still ahead waits in the executor while the previous one
        keeps running, so each chunk plans the steps from its start up to the next one's.
        """
        planned = []
        for chunk_id in sorted(self._published):
            if self._running_id is not None and chunk_id < self._running_id:
                continue
            published = self._published[chunk_id]
            start = self._effective_start.get(chunk_id)
            if start is None:
                # Not executed yet: step-exact strategies keep the planned start. The others
                # start at an arrival step nobody knows yet; they never condition on the rolled
                # state, so the planned start only feeds the informational RolledState there.
                start = self.strategy.effective_start_step(
                    chunk_start_step=published.start_step, arrival_step=published.start_step
                )
            executable = self.strategy.executable_actions(
                macro_count=published.macro_actions.shape[0],
                execution_horizon=self._execution_horizon or 0,
            )
            planned.append(PlannedChunk(chunk_id, start, published.macro_actions[:executable]))
        return planned

    def _roll_out(self, first_step: int, end_step: int, measured: np.ndarray) -> Rollout:
        """Commands of steps ``[first_step, end_step)``: reported where reported, else planned.

        The planned steps continue from the command the executor last reported holding (its own
        seed from the arm before it commanded anything, which can differ from this observation);
        only an executor that has no command yet is seeded here from ``measured``, as it will be.
        """
        in_force = (
            next(reversed(self._in_force.values()))
            if self._in_force
            else self._limits.hold_position(measured)
        )
        return roll_out(
            first_step=first_step,
            end_step=end_step,
            reported_step=self._step,
            executed=self._executed,
            plans=self._planned_chunks(),
            command_in_force=in_force,
            action_space=self._space,
            limits=self._limits,
        )

    def _aligned_previous(self, new_start: int) -> tuple[np.ndarray | None, int]:
        """Planned actions of the steps from ``new_start`` on, up to the first unplanned step.

        RTC guidance inpaints the new chunk's rows with the actions the running chunk has for the
        same steps, so these are the chunk's actions, not the clamped commands.
        """
        plans = self._planned_chunks()
        rows = []
        step = new_start
        while (running := plan_at(plans, step)) is not None:
            plan, index = running
            rows.append(plan.actions[index])
            step += 1
        if not rows:
            # The new chunk's first row precedes every plan or follows the last one: no prefix
            # of it is known, and shifting a plan would guide row i with another step's action.
            return None, 0
        return np.stack(rows), len(rows)
