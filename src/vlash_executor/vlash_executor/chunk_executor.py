"""Step-exact execution of action chunks: the executor's clock, switching and safety, without ROS.

The executor owns the control-step counter. A chunk carries ``start_step``: its macro-action ``j``
executes at control step ``start_step + j`` (VLASH Sec. 3, execution interval ``[t+Δ, t+Δ+K)``).
The switching strategy decides where a newly arrived chunk is placed (``effective_start_step``)
and how many of its actions are already late (``first_index``); late actions are dropped and
counted, never executed out of time. Action quantization (VLASH Sec. 4.4) is applied here, so a
macro-action occupies one control step and the feedback names the last micro-action it merged.

Safety is always on, and it is the one model the policy's roll-forward replays
(:mod:`vlash_core.safety_limits`): commands are clamped to joint position limits and to a
maximum change per tick from the previous command. Like the controllers robotics teams trust
(joint_trajectory_controller, MoveIt Servo), the executor

- commands nothing before a measured joint position is known, and seeds its hold position from
  it, so the first command moves from the measured position within one step;
- holds when the measured joints stop arriving for ``joint_state_timeout_steps``;
- re-seeds from the measured position when it is farther than ``reseed_distance`` from the last
  command (arm moved by hand, e-stop released) instead of jumping back;
- while disarmed, computes what it would command (from the measured position, where it will
  start when armed) but commands nothing.

When no action is due (no chunk, chunk exhausted or waiting for its start step, policy silent past
its timeout) it holds the last commanded position; every hold says why (:class:`HoldReason`).

Every chunk is checked before it may replace a plan (:func:`decode_chunk` for its fields,
:meth:`ChunkExecutor.accept` against the executor's clock), and a chunk that fails is refused
with an :class:`~vlash_core.input_diagnostics.RefusedInputError` naming the field and the kind of
fault; the running chunk is untouched. A refused chunk can never move the arm, and a chunk that
passes still goes through the position and per-tick limits, so no input commands outside them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_core.conversions import chunk_actions_array
from vlash_core.executor_report import ExecutorReport
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.quantization import QuantizedChunk, quantize_actions
from vlash_core.safety_limits import PerJoint, SafetyLimits
from vlash_core.strategies import SwitchingStrategy

ACTION_MAGNITUDE_LIMIT = 1000.0
"""Largest accepted ``|action|`` (rad): beyond it a chunk is garbage, not a far target. Targets
inside it but outside the position limits are clamped like any other."""
_CHUNK_ID_LIMIT = 2**63 - 1  # ExecutedActions.running_chunk_id is int64
_REMEMBERED_CHUNKS = 64


class HoldReason(enum.Enum):
    """Why a tick executed no action. The first three are safety holds."""

    NO_POSITION = "no measured joint position received yet"
    DISARMED = "disarmed"
    STALE_POSITION = "measured joint positions stopped arriving"
    POLICY_TIMEOUT = "no chunk arrived within the policy timeout"
    NO_ACTION = "no action due at this step"

    @property
    def is_safety_hold(self) -> bool:
        return self in (HoldReason.NO_POSITION, HoldReason.DISARMED, HoldReason.STALE_POSITION)


@dataclass(frozen=True)
class IncomingChunk:
    """A chunk as decoded from the wire, already checked for shape and finiteness."""

    chunk_id: int
    start_step: int
    source_step: int
    actions: np.ndarray
    """(H, D) micro-actions in the robot's action space."""
    action_space: ActionSpace
    quantization: int = 1
    execution_horizon: int = 0
    """K in macro-actions: a ``sync`` chunk stops after K of them; 0 runs the whole chunk."""


def decode_chunk(
    msg: Any,
    *,
    joint_names: Sequence[str],
    strategy: SwitchingStrategy,
    control_period_s: float,
) -> IncomingChunk:
    """The :class:`IncomingChunk` of an ``ActionChunk`` (or any object with its fields).

    Raises :class:`RefusedInputError` naming the field, with the kind: ``chunk_id``,
    ``joint_names``, ``strategy``, ``control_period``, ``action_space``, ``empty``, ``shape``,
    ``non_finite``, ``huge``, ``quantization``.
    """
    if msg.chunk_id > _CHUNK_ID_LIMIT:
        raise RefusedInputError(
            "chunk_id", f"ActionChunk.chunk_id {msg.chunk_id} exceeds {_CHUNK_ID_LIMIT}"
        )
    if list(msg.joint_names) != list(joint_names):
        raise RefusedInputError(
            "joint_names",
            f"ActionChunk.joint_names {list(msg.joint_names)} differ from the executor's "
            f"joint_names {list(joint_names)}",
        )
    if msg.strategy and msg.strategy != strategy.name:
        raise RefusedInputError(
            "strategy",
            f"ActionChunk.strategy {msg.strategy!r} differs from the executor's strategy "
            f"{strategy.name!r}",
        )
    # ``not <=`` refuses NaN too; 0 is unset.
    if (
        msg.control_period
        and not abs(msg.control_period - control_period_s) <= 1e-3 * control_period_s
    ):
        raise RefusedInputError(
            "control_period",
            f"ActionChunk.control_period {msg.control_period} s differs from the executor's "
            f"{control_period_s} s: the chunk was planned for another rate",
        )
    try:
        space = parse_action_space(msg.action_space)
    except ValueError as error:
        raise RefusedInputError("action_space", f"ActionChunk.{error}") from None
    actions = chunk_actions_array(msg)
    largest = float(np.max(np.abs(actions)))
    if largest > ACTION_MAGNITUDE_LIMIT:
        raise RefusedInputError(
            "huge",
            f"ActionChunk.actions holds {largest:.3g}, beyond +-{ACTION_MAGNITUDE_LIMIT:g} rad",
        )
    if not 1 <= msg.quantization <= msg.horizon:
        raise RefusedInputError(
            "quantization",
            f"ActionChunk.quantization must be in [1, horizon = {msg.horizon}], "
            f"got {msg.quantization}",
        )
    return IncomingChunk(
        chunk_id=int(msg.chunk_id),
        start_step=int(msg.start_step),
        source_step=int(msg.source_step),
        actions=actions.astype(np.float64),
        action_space=space,
        quantization=int(msg.quantization),
        execution_horizon=int(msg.execution_horizon),
    )


@dataclass(frozen=True)
class TickResult:
    """What the executor commanded (or, disarmed, would command) at one control step."""

    step: int
    command: np.ndarray | None
    """Joint positions commanded at this step: the executed action's command, or the hold
    position; disarmed, what it would command if armed. None only before any measured position."""
    hold_reason: HoldReason | None
    """None when an action executed; else why the executor held."""
    chunk_id: int | None
    """Chunk of the action executed (disarmed: the action it would execute)."""
    micro_index: int | None
    """Index in the chunk's micro-actions of the last action merged into this command."""
    clamped: bool
    """True when a position or velocity limit changed the command."""

    @property
    def holding(self) -> bool:
        """True when no action executed at this step."""
        return self.hold_reason is not None


@dataclass
class _ActiveChunk:
    chunk: IncomingChunk
    quantized: QuantizedChunk
    start_step: int
    executable: int
    """Number of macro-actions this chunk may execute (K for ``sync``, all of them otherwise)."""


class ChunkExecutor:
    """Holds the current chunk and turns control steps into safe joint commands."""

    def __init__(
        self,
        *,
        strategy: SwitchingStrategy,
        joint_count: int,
        lower: PerJoint,
        upper: PerJoint,
        max_step_per_tick: PerJoint,
        policy_timeout_steps: int = 0,
        joint_state_timeout_steps: int = 0,
        reseed_distance: float = 0.0,
        armed: bool = True,
        max_lead_steps: int | None = None,
    ) -> None:
        """Create an executor at step 0 with no chunk and no known position.

        Args:
            strategy: chunk switching strategy (placement of new chunks, dropping late actions).
            joint_count: number of commanded joints (the action dimension).
            lower, upper: joint position limits, one per joint (finite).
            max_step_per_tick: largest allowed change of each joint command in one control step.
            policy_timeout_steps: hold once this many steps passed since the last accepted chunk
                (0 disables the timeout; an exhausted chunk always leads to holding).
            joint_state_timeout_steps: hold once this many steps passed since the last measured
                position (0 disables it: the position is measured once, as in a simulation loop).
            reseed_distance: re-seed the hold position from a measured position farther than
                this from the last command in any joint (rad; 0 disables re-seeding).
            armed: start armed (commanding) or disarmed (computing, commanding nothing).
            max_lead_steps: refuse a chunk placed more than this many steps ahead of the clock
                (a policy plans at most its Δ ahead; None: no bound).
        """
        if joint_count < 1:
            raise ValueError(f"joint_count must be >= 1, got {joint_count}")
        self._limits = SafetyLimits.create(
            joint_count, lower=lower, upper=upper, max_step_per_tick=max_step_per_tick
        )
        if not self._limits.is_finite:
            raise ValueError(
                "lower, upper and max_step_per_tick must be finite for every joint, got "
                f"lower={self._limits.lower.tolist()} upper={self._limits.upper.tolist()} "
                f"max_step_per_tick={self._limits.max_step.tolist()}"
            )
        for name, value in (
            ("policy_timeout_steps", policy_timeout_steps),
            ("joint_state_timeout_steps", joint_state_timeout_steps),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not (np.isfinite(reseed_distance) and reseed_distance >= 0):
            raise ValueError(f"reseed_distance must be finite and >= 0, got {reseed_distance}")
        if max_lead_steps is not None and max_lead_steps < 0:
            raise ValueError(f"max_lead_steps must be >= 0, got {max_lead_steps}")
        self._max_lead = max_lead_steps
        self._recent: deque[tuple[int, int]] = deque(maxlen=_REMEMBERED_CHUNKS)
        """(chunk_id, source_step) of the latest accepted chunks, to refuse repeats."""
        self._newest_source: int | None = None
        self._strategy = strategy
        self._joint_count = joint_count
        self._timeout = policy_timeout_steps
        self._joint_state_timeout = joint_state_timeout_steps
        self._reseed_distance = float(reseed_distance)
        self._armed = bool(armed)
        self._step = 0
        self._active: _ActiveChunk | None = None
        self._waiting: list[_ActiveChunk] = []
        """Accepted chunks whose start step is ahead, in increasing start order."""
        self._last_accept_step: int | None = None
        self._command: np.ndarray | None = None
        """The command in force: the last one sent, or the hold position seeded from the arm."""
        self._measured: np.ndarray | None = None
        """The latest measured position, clipped into the position limits."""
        self._measured_at: int | None = None
        """``step`` when ``_measured`` arrived."""
        self.dropped_actions = 0
        """Macro-actions never executed because their step had passed when the chunk arrived."""
        self.reseeds = 0
        """Times the hold position was re-seeded from a measured position far from the command."""
        self.passed_chunks = 0
        """Chunks accepted after all their steps had passed (every action dropped)."""

    @property
    def step(self) -> int:
        """The next control step to execute."""
        return self._step

    @property
    def limits(self) -> SafetyLimits:
        """The position and per-tick limits every command obeys (the policy replays them)."""
        return self._limits

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def last_command(self) -> np.ndarray | None:
        """The command in force (None until a measured position seeded it)."""
        return None if self._command is None else self._command.copy()

    def set_measured_position(self, position: Sequence[float]) -> bool:
        """Take the robot's measured joints; returns True when they re-seeded the hold position.

        The first measurement seeds the hold position (clipped into the limits). A later one
        farther than ``reseed_distance`` from the command in force (in any joint) replaces it
        while armed: the next command then moves from where the arm really is, within one step.
        Disarmed, nothing is commanded and :meth:`arm` starts from the latest measurement.
        """
        measured = self._limits.hold_position(position)
        self._measured = measured
        self._measured_at = self._step
        if self._command is None:
            self._command = measured.copy()
            return False
        far = np.max(np.abs(measured - self._command)) > self._reseed_distance
        if self._armed and self._reseed_distance and far:
            self._command = measured.copy()
            self.reseeds += 1
            return True
        return False

    def arm(self) -> None:
        """Start commanding: from the latest measured position (the arm may have moved)."""
        self._armed = True
        if self._measured is not None:
            self._command = self._measured.copy()

    def disarm(self) -> None:
        """Stop commanding; the arm keeps the last command (a hold)."""
        self._armed = False

    @property
    def running_chunk_id(self) -> int | None:
        """The newest accepted chunk (it may still wait for its start step)."""
        newest = self._newest()
        return None if newest is None else newest.chunk.chunk_id

    def steps_left(self) -> int:
        """Control steps, from the next one, until the newest accepted chunk runs out.

        This is what the policy's inference trigger compares with ``Δ``: a chunk waiting for its
        start step counts with the steps before it, during which the current chunk still runs.
        """
        newest = self._newest()
        if newest is None:
            return 0
        return max(0, newest.start_step + newest.executable - self._step)

    def accept(self, chunk: IncomingChunk) -> int:
        """Take ``chunk`` (between ticks); returns how many of its actions were already late.

        The strategy places action 0 (``effective_start_step``); macro-actions whose step already
        passed are dropped and counted. A chunk whose start step is still ahead waits for it while
        the current chunk keeps running: those are exactly the actions the policy rolled the state
        forward over (VLASH Sec. 4.1).

        Raises :class:`RefusedInputError`, leaving the plans as they were, for a chunk that
        cannot be meant for this executor's clock (kinds): ``start_before_source`` (``start_step <
        source_step``), ``duplicate`` (an accepted chunk again), ``out_of_order`` (conditioned on
        a step before the newest accepted chunk's), ``future_source`` (conditioned on a step not
        reached yet: an executor restarted under a running policy), ``far_future`` (placed more
        than ``max_lead_steps`` ahead). A chunk all of whose steps passed is accepted, none of
        it runs, and it counts in :attr:`passed_chunks`.
        """
        if chunk.actions.ndim != 2 or chunk.actions.shape[1] != self._joint_count:
            raise RefusedInputError(
                "shape",
                f"chunk {chunk.chunk_id} actions must have shape (H, {self._joint_count}), "
                f"got {chunk.actions.shape}",
            )
        if chunk.execution_horizon < 0:
            raise ValueError(
                f"chunk {chunk.chunk_id} execution_horizon must be >= 0, "
                f"got {chunk.execution_horizon}"
            )
        self._check_timing(chunk)
        quantized = quantize_actions(chunk.actions, chunk.quantization, chunk.action_space)
        start = self._strategy.effective_start_step(
            chunk_start_step=chunk.start_step, arrival_step=self._step
        )
        if self._max_lead is not None and start - self._step > self._max_lead:
            raise RefusedInputError(
                "far_future",
                f"chunk {chunk.chunk_id} starts at step {start}, {start - self._step} steps "
                f"ahead of the executor's step {self._step} (at most {self._max_lead})",
            )
        executable = self._strategy.executable_actions(
            macro_count=quantized.actions.shape[0], execution_horizon=chunk.execution_horizon
        )
        late = min(
            executable,
            self._strategy.first_index(chunk_start_step=chunk.start_step, arrival_step=self._step),
        )
        self.dropped_actions += late
        if late and late == executable:
            # It still supersedes the plans from its start on, as the policy's roll-forward
            # assumes (VLASH Sec. 4.1): the executor holds until the next chunk.
            self.passed_chunks += 1
        self._recent.append((chunk.chunk_id, chunk.source_step))
        self._newest_source = chunk.source_step
        accepted = _ActiveChunk(chunk, quantized, start, executable)
        # A fresher chunk supersedes every plan from its own start step on; earlier-starting
        # waiting chunks still run until it starts.
        self._waiting = [w for w in self._waiting if w.start_step < start]
        if start > self._step:
            self._waiting.append(accepted)
        else:
            self._active, self._waiting = accepted, []
        self._last_accept_step = self._step
        return late

    def _check_timing(self, chunk: IncomingChunk) -> None:
        """Refuse a chunk whose steps cannot belong to this executor's clock (see accept)."""
        name, source = f"chunk {chunk.chunk_id}", chunk.source_step
        if chunk.start_step < source:
            raise RefusedInputError(
                "start_before_source",
                f"{name} start_step {chunk.start_step} precedes its source_step {source}",
            )
        if (chunk.chunk_id, source) in self._recent:
            raise RefusedInputError(
                "duplicate", f"{name} (source_step {source}) was accepted before"
            )
        if self._newest_source is not None and source < self._newest_source:
            raise RefusedInputError(
                "out_of_order",
                f"{name} is conditioned on step {source}, before the newest accepted chunk's "
                f"step {self._newest_source}",
            )
        if source > self._step:
            raise RefusedInputError(
                "future_source",
                f"{name} is conditioned on step {source}, which the executor (at step "
                f"{self._step}) has not reached: planned on another executor's clock",
            )

    def report(self, tick: TickResult) -> ExecutorReport:
        """What the executor reports after ``tick`` (the state after it, as the policy needs)."""
        executed = not tick.holding
        assert not executed or tick.command is not None
        return ExecutorReport(
            step=tick.step,
            steps=[tick.step] if executed else [],
            chunk_ids=[tick.chunk_id] if executed else [],
            indices=[tick.micro_index] if executed else [],
            commands=tick.command[None] if executed else np.empty((0, self.limits.joint_count)),
            holding=tick.holding,
            steps_left=self.steps_left(),
            running_chunk_id=self.running_chunk_id,
            command_in_force=self.last_command,
        )

    def tick(self) -> TickResult:
        """Execute the control step ``self.step`` and advance the clock by one."""
        step = self._step
        self._step += 1
        due = [w for w in self._waiting if w.start_step <= step]
        if due:
            self._active = due[-1]
            self._waiting = self._waiting[len(due) :]
        result = self._tick_result(step)
        if not result.holding:
            self._command = result.command.copy()
        return result

    def preview(self, count: int) -> np.ndarray:
        """The next ``count`` commands if no other chunk arrives (holding rows included).

        Used to send a whole timed trajectory to a trajectory controller at a chunk switch; call
        it only once a position is known.
        """
        if self._command is None:
            raise RuntimeError("preview needs a measured position first")
        rows = []
        command = self._command
        for step in range(self._step, self._step + count):
            command = self._chunk_command(step, command).command
            rows.append(command)
        return np.asarray(rows).reshape(count, self._joint_count)

    def _tick_result(self, step: int) -> TickResult:
        if self._command is None:
            return TickResult(step, None, HoldReason.NO_POSITION, None, None, False)
        if not self._armed:
            # What it would command now if armed: arming re-seeds from the measured position.
            assert self._measured is not None
            would = self._chunk_command(step, self._measured)
            return dataclasses.replace(would, hold_reason=HoldReason.DISARMED)
        if self._stale(step):
            return TickResult(
                step, self._command.copy(), HoldReason.STALE_POSITION, None, None, False
            )
        return self._chunk_command(step, self._command)

    def _stale(self, step: int) -> bool:
        return bool(
            self._joint_state_timeout
            and self._measured_at is not None
            and step - self._measured_at >= self._joint_state_timeout
        )

    def _chunk_command(self, step: int, previous: np.ndarray) -> TickResult:
        """The command at ``step`` from ``previous``: the due action's, or a hold of it."""
        active = self._chunk_at(step)
        reason = HoldReason.NO_ACTION
        if active is not None:
            silent = self._last_accept_step is not None and step - self._last_accept_step
            index = step - active.start_step
            if self._timeout and silent >= self._timeout:
                reason = HoldReason.POLICY_TIMEOUT
            elif 0 <= index < active.executable:
                action = active.quantized.actions[index].astype(np.float64)
                command, clamped = self._limits.command(action, previous, active.chunk.action_space)
                micro = active.quantized.micro_index_at(index)
                return TickResult(step, command, None, active.chunk.chunk_id, micro, clamped)
        return TickResult(step, previous.copy(), reason, None, None, False)

    def _chunk_at(self, step: int) -> _ActiveChunk | None:
        due = [w for w in self._waiting if w.start_step <= step]
        return due[-1] if due else self._active

    def _newest(self) -> _ActiveChunk | None:
        return self._waiting[-1] if self._waiting else self._active
