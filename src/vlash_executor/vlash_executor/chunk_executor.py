"""Step-exact execution of action chunks: the executor's clock, switching and safety, without ROS.

The executor owns the control-step counter. A chunk carries ``start_step``: its macro-action ``j``
executes at control step ``start_step + j`` (VLASH Sec. 3, execution interval ``[t+Δ, t+Δ+K)``).
The switching strategy decides where a newly arrived chunk is placed (``effective_start_step``)
and how many of its actions are already late (``first_index``); late actions are dropped and
counted, never executed out of time. Action quantization (VLASH Sec. 4.4) is applied here, so a
macro-action occupies one control step and the feedback names the last micro-action it merged.

Safety is always on: commands are clamped to joint position limits and to a maximum change per
tick; when no action is due (chunk exhausted, policy silent past its timeout) the executor holds
the last commanded position and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlash_policy.action_space import ActionSpace
from vlash_policy.quantization import QuantizedChunk, quantize_actions
from vlash_policy.strategies import SwitchingStrategy


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


@dataclass(frozen=True)
class TickResult:
    """What the executor commanded at one control step."""

    step: int
    command: np.ndarray
    holding: bool
    chunk_id: int | None
    micro_index: int | None
    """Index in the chunk's micro-actions of the last action merged into this command."""
    clamped: bool
    """True when a position or velocity limit changed the command."""


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
        lower: Sequence[float],
        upper: Sequence[float],
        max_step_per_tick: Sequence[float],
        policy_timeout_steps: int = 0,
    ) -> None:
        """Create an executor at step 0 with no chunk and no known position.

        Args:
            strategy: chunk switching strategy (placement of new chunks, dropping late actions).
            joint_count: number of commanded joints (the action dimension).
            lower, upper: joint position limits, one per joint.
            max_step_per_tick: largest allowed change of each joint command in one control step.
            policy_timeout_steps: hold once this many steps passed since the last accepted chunk
                (0 disables the timeout; an exhausted chunk always leads to holding).
        """
        if joint_count < 1:
            raise ValueError(f"joint_count must be >= 1, got {joint_count}")
        self._lower = _per_joint("lower", lower, joint_count)
        self._upper = _per_joint("upper", upper, joint_count)
        bad = np.flatnonzero(self._lower > self._upper)
        if bad.size:
            raise ValueError(
                f"joint limit lower > upper for joint index {int(bad[0])}: "
                f"{self._lower[bad[0]]} > {self._upper[bad[0]]}"
            )
        self._max_step = _per_joint("max_step_per_tick", max_step_per_tick, joint_count)
        if np.any(self._max_step <= 0):
            raise ValueError(f"max_step_per_tick must be > 0, got {self._max_step.tolist()}")
        if policy_timeout_steps < 0:
            raise ValueError(f"policy_timeout_steps must be >= 0, got {policy_timeout_steps}")
        self._strategy = strategy
        self._joint_count = joint_count
        self._timeout = policy_timeout_steps
        self._step = 0
        self._active: _ActiveChunk | None = None
        self._waiting: list[_ActiveChunk] = []
        """Accepted chunks whose start step is ahead, in increasing start order."""
        self._last_accept_step: int | None = None
        self._command: np.ndarray | None = None
        self.dropped_actions = 0
        """Macro-actions never executed because their step had passed when the chunk arrived."""

    @property
    def step(self) -> int:
        """The next control step to execute."""
        return self._step

    @property
    def last_command(self) -> np.ndarray | None:
        return None if self._command is None else self._command.copy()

    def set_measured_position(self, position: Sequence[float]) -> None:
        """Seed the hold position from the robot's measured joints (before the first command)."""
        if self._command is None:
            pos = _per_joint("position", position, self._joint_count)
            self._command = np.clip(pos, self._lower, self._upper)

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
        """
        if chunk.actions.ndim != 2 or chunk.actions.shape[1] != self._joint_count:
            raise ValueError(
                f"chunk {chunk.chunk_id} actions must have shape (H, {self._joint_count}), "
                f"got {chunk.actions.shape}"
            )
        quantized = quantize_actions(chunk.actions, chunk.quantization, chunk.action_space)
        start = self._strategy.effective_start_step(
            chunk_start_step=chunk.start_step, arrival_step=self._step
        )
        macro_count = quantized.actions.shape[0]
        executable = macro_count
        if chunk.execution_horizon < 0:
            raise ValueError(
                f"chunk {chunk.chunk_id} execution_horizon must be >= 0, "
                f"got {chunk.execution_horizon}"
            )
        # The robot stops after K actions only under sync; asynchronous strategies run a chunk to
        # its end when the next one is late.
        if self._strategy.name == "sync" and chunk.execution_horizon:
            executable = min(macro_count, chunk.execution_horizon)
        late = min(
            executable,
            self._strategy.first_index(chunk_start_step=chunk.start_step, arrival_step=self._step),
        )
        self.dropped_actions += late
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

    def tick(self) -> TickResult:
        """Execute the control step ``self.step`` and advance the clock by one."""
        step = self._step
        self._step += 1
        due = [w for w in self._waiting if w.start_step <= step]
        if due:
            self._active = due[-1]
            self._waiting = self._waiting[len(due) :]
        result = self._command_at(step, self._command)
        if not result.holding:
            self._command = result.command.copy()
        return result

    def preview(self, count: int) -> np.ndarray:
        """The next ``count`` commands if no other chunk arrives (holding rows included).

        Used to send a whole timed trajectory to a trajectory controller at a chunk switch.
        """
        rows = []
        command = self._command
        for step in range(self._step, self._step + count):
            result = self._command_at(step, command)
            command = result.command
            rows.append(result.command)
        return np.asarray(rows).reshape(count, self._joint_count)

    def _command_at(self, step: int, previous: np.ndarray | None) -> TickResult:
        action, chunk_id, micro = self._due_action(step)
        if action is None:
            if previous is None:
                # Nothing known to hold yet: the robot's measured position has not arrived.
                return TickResult(step, np.full(self._joint_count, np.nan), True, None, None, False)
            return TickResult(step, previous.copy(), True, None, None, False)
        target = action
        if self._chunk_at(step).chunk.action_space is ActionSpace.DELTA:
            target = (previous if previous is not None else np.zeros(self._joint_count)) + action
        safe = np.clip(target, self._lower, self._upper)
        if previous is not None:
            safe = np.clip(safe, previous - self._max_step, previous + self._max_step)
        clamped = not np.allclose(safe, target, rtol=0.0, atol=1e-12)
        return TickResult(step, safe, False, chunk_id, micro, clamped)

    def _chunk_at(self, step: int) -> _ActiveChunk | None:
        due = [w for w in self._waiting if w.start_step <= step]
        return due[-1] if due else self._active

    def _newest(self) -> _ActiveChunk | None:
        return self._waiting[-1] if self._waiting else self._active

    def _due_action(self, step: int) -> tuple[np.ndarray | None, int | None, int | None]:
        active = self._chunk_at(step)
        if active is None:
            return None, None, None
        silent = self._last_accept_step is not None and step - self._last_accept_step
        if self._timeout and silent >= self._timeout:
            return None, None, None
        index = step - active.start_step
        if index < 0 or index >= active.executable:
            return None, None, None
        micro = active.quantized.source_indices[index][-1]
        return active.quantized.actions[index].astype(np.float64), active.chunk.chunk_id, micro


def _per_joint(name: str, value: Sequence[float], joint_count: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(joint_count, float(arr))
    if arr.shape != (joint_count,):
        raise ValueError(f"{name} must have {joint_count} entries, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr
