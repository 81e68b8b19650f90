"""Checks on what the executor did, in its own steps: command limits, holds, recovery.

Every command the executor published is checked against the position limits and against the
per-tick step from the command before it (the first from the measured position it started
from). Recovery after a fault is counted in executor ticks from its reports
(:class:`Tick`), never in wall-clock time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vlash_core.safety_limits import SafetyLimits

# Float rounding of a clamp: a command exactly at a limit may differ from it by a few ulps.
TOLERANCE = 1e-9


@dataclass
class CommandCheck:
    """Counts over a stream of joint commands."""

    checked: int = 0
    position_violations: int = 0
    """Commands with a joint outside ``[lower, upper]``."""
    step_violations: int = 0
    """Commands more than ``max_step`` from the previous one in some joint."""
    non_finite: int = 0
    largest_step_fraction: float = 0.0
    """The largest ``|change| / max_step`` seen (1.0: the velocity limit bound)."""

    @property
    def violations(self) -> int:
        return self.position_violations + self.step_violations + self.non_finite

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self) | {"violations": self.violations}


def check_commands(
    commands: Sequence[Sequence[float]] | np.ndarray,
    limits: SafetyLimits,
    *,
    start: Sequence[float] | np.ndarray | None = None,
    into: CommandCheck | None = None,
) -> CommandCheck:
    """Check ``commands`` (one row per tick, in order) against ``limits``.

    ``start`` is the position before the first command (the measured position the executor
    seeded its hold from); None checks the first command against the position limits only.
    ``into`` accumulates over several streams (one per executor process).
    """
    result = into if into is not None else CommandCheck()
    rows = np.asarray(commands, dtype=np.float64).reshape(-1, limits.joint_count)
    if not len(rows):
        return result
    result.checked += len(rows)
    finite = np.all(np.isfinite(rows), axis=1)
    result.non_finite += int(np.sum(~finite))
    outside = np.any((rows < limits.lower - TOLERANCE) | (rows > limits.upper + TOLERANCE), axis=1)
    result.position_violations += int(np.sum(outside & finite))
    previous = rows[:-1] if start is None else np.vstack([start, rows[:-1]])
    current = rows[1:] if start is None else rows
    if len(current):
        fraction = np.abs(current - previous) / limits.max_step
        worst = np.max(np.where(np.isfinite(fraction), fraction, 0.0), axis=1)
        result.step_violations += int(np.sum(worst > 1.0 + TOLERANCE))
        result.largest_step_fraction = max(result.largest_step_fraction, float(worst.max()))
    return result


@dataclass(frozen=True)
class Tick:
    """One ``ExecutedActions`` report: the step, whether it held, what it executed."""

    step: int
    holding: bool
    steps_left: int
    chunk_ids: tuple[int, ...]


def report_gaps(ticks: Sequence[Tick]) -> int:
    """Steps missing between consecutive reports of one executor (0: none was lost)."""
    steps = [t.step for t in ticks]
    return sum(max(0, b - a - 1) for a, b in itertools.pairwise(steps))


def hold_lags(ticks: Sequence[Tick]) -> list[int]:
    """For every time the executor ran out of actions, the ticks until it reported holding.

    It ran out at a tick that executed the last executable action (``steps_left == 0``); the
    lag is 1 when the very next report holds. A next tick that executes again (a new chunk
    arrived in between) did not run out and is not counted.
    """
    lags = []
    for i, tick in enumerate(ticks[:-1]):
        if tick.holding or tick.steps_left:
            continue
        following = ticks[i + 1 :]
        if not following[0].holding:
            continue
        lags.append(following[0].step - tick.step)
    return lags


def first_execution(ticks: Sequence[Tick], *, from_step: int, chunk_ids: set[int] | None = None):
    """The first tick at or after ``from_step`` that executed an action (of ``chunk_ids``)."""
    for tick in ticks:
        if tick.step < from_step or tick.holding:
            continue
        if chunk_ids is None or any(c in chunk_ids for c in tick.chunk_ids):
            return tick
    return None


def first_hold(ticks: Sequence[Tick], *, from_step: int) -> Tick | None:
    """The first holding tick at or after ``from_step``."""
    return next((t for t in ticks if t.step >= from_step and t.holding), None)
