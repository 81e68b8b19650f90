"""Check a recorded run's roll-forward against what the executor really commanded.

``python -m vlash_policy.recording.check_rollforward BAG [--tolerance RAD]``

VLASH Sec. 4.1: the policy conditions a chunk on ``s_{t+Δ}``, the state the robot reaches when
the chunk starts, and the roll-forward (:mod:`vlash_core.rollforward`) replays the executor's
safety pipeline so that this is exactly the position the executor commands at step ``t+Δ-1``.
This command verifies that on a bag, independently of the policy's bookkeeping: for every
``RolledState`` it takes, from the bag's ``ExecutedActions`` of step ``target_step - 1``, the
command the executor held after that step (``command_in_force``: its last command, or the
position it seeded from the arm) and compares it with ``rolled_positions`` joint by joint. A
window ``[t, t+Δ)`` the executor did not run as the rolled state planned it (a chunk that reached
it after its start step, so its first actions were dropped) is counted apart: no roll-forward
can know that in advance, and it says the delay Δ was underestimated.

It prints how many rolled states (one per chunk) it checked, how many matched within the
tolerance (default 1e-6 rad), the largest error, the chunks it could not check and why, and in
how many checked windows ``[t, t+Δ)`` the executor's per-tick step limit bound (from the limits
the reports carry). Exit status: 0 when every checked chunk matched and at least one was
checked, 1 on any mismatch or when nothing could be checked, 2 when the bag cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlash_core.conversions import (
    executed_actions_arrays,
    executor_command_in_force,
    executor_limits,
)
from vlash_core.safety_limits import SafetyLimits
from vlash_policy.recording.bag_io import (
    EXECUTED_ACTIONS_TOPIC,
    ROLLED_STATE_TOPIC,
    find_topic,
    read_bag_info,
    read_messages,
)

DEFAULT_TOLERANCE_RAD = 1e-6
# A command that moved a joint by max_step_per_tick (to this relative precision) was step-limited.
_LIMIT_RTOL = 1e-9

NO_COMMAND_YET = "the executor held no command at target_step - 1 (no joint state yet)"
AFTER_LAST_REPORT = "target_step - 1 is after the last recorded executor report"
MISSING_REPORT = "the executor report of target_step - 1 is missing"
OTHER_JOINTS = "RolledState.joint_names lack joints the executor commands"
NOT_AS_PLANNED = (
    "the executor did not run [t, t+Δ) as the policy planned (a chunk arrived after its start)"
)


@dataclass(frozen=True)
class RolledCheck:
    """The check of one RolledState (one chunk)."""

    measured_step: int
    target_step: int
    error: float | None
    """Largest per-joint |rolled - commanded| (rad); None when not checkable."""
    reason: str | None
    """Why the chunk is not checkable; None when it was checked."""
    step_limited: bool | None
    """Whether the step limit bound a command in ``[t, t+Δ)``; None when unknown."""


@dataclass(frozen=True)
class RollforwardReport:
    """Every RolledState of a run checked against the executor's commands."""

    checks: tuple[RolledCheck, ...]
    tolerance: float
    max_step_per_tick: np.ndarray | None
    """The executor's reported step limit (rad per tick); None when its reports lack it."""

    @property
    def checked(self) -> list[RolledCheck]:
        return [c for c in self.checks if c.error is not None]

    @property
    def mismatched(self) -> list[RolledCheck]:
        return [c for c in self.checked if c.error > self.tolerance]

    @property
    def not_checkable(self) -> Counter[str]:
        return Counter(c.reason for c in self.checks if c.reason is not None)

    @property
    def max_error(self) -> float | None:
        return max((c.error for c in self.checked), default=None)

    @property
    def ok(self) -> bool:
        """Every checked chunk matched, and at least one was checked."""
        return bool(self.checked) and not self.mismatched


class _Commands:
    """The executor's command in force after each step, from its reports."""

    def __init__(self, reports: Iterable[Any]) -> None:
        self.joint_names: list[str] | None = None
        self._in_force: dict[int, np.ndarray | None] = {}
        self._executed: dict[int, np.ndarray] = {}
        self._chunk_at: dict[int, int] = {}
        self.limits: SafetyLimits | None = None
        for msg in reports:
            names = list(msg.joint_names)
            if self.joint_names is None:
                self.joint_names = names
            elif names != self.joint_names:
                raise ValueError(
                    f"ExecutedActions.joint_names changed from {self.joint_names} to {names}"
                )
            if self.limits is None:
                # A bag from before the reports carried the limits leaves them unknown.
                with contextlib.suppress(ValueError):
                    self.limits = executor_limits(msg)
            self._in_force[int(msg.step)] = executor_command_in_force(msg)
            arrays = executed_actions_arrays(msg)
            for step, chunk_id, command in zip(
                arrays.steps.tolist(), arrays.chunk_ids.tolist(), arrays.commanded, strict=True
            ):
                self._executed[int(step)] = command
                self._chunk_at[int(step)] = int(chunk_id)
        self.last_report = max(self._in_force, default=None)

    def in_force(self, step: int) -> tuple[np.ndarray | None, str | None]:
        """(command in force after ``step``, None) or (None, why it is not known)."""
        if self.last_report is None or step > self.last_report:
            return None, AFTER_LAST_REPORT
        if step not in self._in_force:
            return None, MISSING_REPORT
        held = self._in_force[step]
        return (None, NO_COMMAND_YET) if held is None else (held, None)

    def ran_as_planned(self, first: int, end: int, planned: dict[int, int]) -> bool:
        """Whether each step of ``[first, end)`` ran the chunk ``planned`` has for it (or held).

        A chunk the policy had sent may reach the executor after its start step; its first
        actions are then dropped and the executor holds where the plan moved, which the policy
        could not know when it rolled the state forward.
        """
        return all(self._chunk_at.get(s) == planned.get(s) for s in range(first, end))

    def step_limited(self, first: int, end: int) -> bool | None:
        """Whether a command of steps ``[first, end)`` moved a joint by the full step limit."""
        if self.limits is None:
            return None
        for step in range(first, end):
            command = self._executed.get(step)
            previous, _ = self.in_force(step - 1)
            if command is None or previous is None:
                continue
            moved = np.abs(command - previous)
            if np.any(np.isclose(moved, self.limits.max_step, rtol=_LIMIT_RTOL, atol=0.0)):
                return True
        return False


def check_rolled_states(
    rolled_states: Iterable[Any], reports: Iterable[Any], *, tolerance: float
) -> RollforwardReport:
    """Check ``RolledState`` messages against ``ExecutedActions`` messages (any message flavour)."""
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
    commands = _Commands(reports)
    checks = []
    for msg in rolled_states:
        t, target = int(msg.measured_step), int(msg.target_step)
        names = list(msg.joint_names)
        joints = commands.joint_names or []
        if any(name not in names for name in joints):
            checks.append(RolledCheck(t, target, None, OTHER_JOINTS, None))
            continue
        command, reason = commands.in_force(target - 1)
        if command is None:
            checks.append(RolledCheck(t, target, None, reason, None))
            continue
        planned = dict(
            zip(
                (int(x) for x in msg.action_steps),
                (int(x) for x in msg.action_chunk_ids),
                strict=True,
            )
        )
        if not commands.ran_as_planned(t, target, planned):
            checks.append(RolledCheck(t, target, None, NOT_AS_PLANNED, None))
            continue
        rolled = np.asarray(msg.rolled_positions, dtype=np.float64)[
            [names.index(n) for n in joints]
        ]
        error = float(np.max(np.abs(rolled - command)))
        checks.append(RolledCheck(t, target, error, None, commands.step_limited(t, target)))
    limits = commands.limits
    return RollforwardReport(
        checks=tuple(checks),
        tolerance=float(tolerance),
        max_step_per_tick=None if limits is None else limits.max_step.copy(),
    )


def check_bag(bag: str | Path, *, tolerance: float = DEFAULT_TOLERANCE_RAD) -> RollforwardReport:
    """Check every RolledState of ``bag`` (any namespace; one arm per bag)."""
    info = read_bag_info(bag)
    rolled_topic = find_topic(info.topics, ROLLED_STATE_TOPIC)
    reports_topic = find_topic(info.topics, EXECUTED_ACTIONS_TOPIC)
    rolled, reports = [], []
    for message in read_messages(bag, topics=[rolled_topic, reports_topic]):
        (rolled if message.topic == rolled_topic else reports).append(message.message)
    return check_rolled_states(rolled, reports, tolerance=tolerance)


def format_report(report: RollforwardReport, *, bag: str | Path) -> str:
    """The counts, the reasons for unchecked chunks and the first mismatches, as text."""
    checked, mismatched = report.checked, report.mismatched
    lines = [
        f"bag:            {bag}",
        f"rolled states:  {len(report.checks)} (one per chunk)",
        f"checked:        {len(checked)} against the executor's command at target_step - 1",
        f"matched:        {len(checked) - len(mismatched)} within {report.tolerance:g} rad",
        f"mismatched:     {len(mismatched)}",
        "max error:      " + ("-" if report.max_error is None else f"{report.max_error:.3g} rad"),
        f"not checkable:  {sum(report.not_checkable.values())}",
    ]
    lines += [f"  {count:>5}  {reason}" for reason, count in report.not_checkable.most_common()]
    if report.max_step_per_tick is None:
        lines.append("step limit:     unknown (the executor reports carry no limits)")
    elif checked:
        bound = sum(bool(c.step_limited) for c in checked)
        step = np.round(report.max_step_per_tick, 6).tolist()
        lines.append(
            f"step limit:     bound in {bound} of {len(checked)} checked windows [t, t+Δ) "
            f"(max_step_per_tick {step} rad)"
        )
    for check in mismatched[:10]:
        lines.append(
            f"MISMATCH: t = {check.measured_step}, t+Δ = {check.target_step}: rolled state off by "
            f"{check.error:.3g} rad from the command at step {check.target_step - 1}"
        )
    if not checked:
        lines.append("FAILED: no rolled state could be checked")
    elif mismatched:
        lines.append(
            f"FAILED: {len(mismatched)} rolled state(s) differ from the executor's commands"
        )
    else:
        lines.append("OK: every checked rolled state is the executor's command at target_step - 1")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlash_policy.recording.check_rollforward",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("bag", type=Path, help="rosbag2 directory (the one with metadata.yaml)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_RAD,
        help=f"largest joint error counted as a match, rad (default {DEFAULT_TOLERANCE_RAD:g})",
    )
    args = parser.parse_args(argv)
    try:
        report = check_bag(args.bag, tolerance=args.tolerance)
    except (FileNotFoundError, ValueError) as error:
        print(f"check_rollforward: {error}", file=sys.stderr)
        return 2
    print(format_report(report, bag=args.bag))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
