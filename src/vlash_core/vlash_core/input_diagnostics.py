"""Refused inputs of a node: a typed error, per-kind counts, throttled logs, without ROS.

A node on a real arm must survive any message: a malformed ``ActionChunk``, a camera frame with a
wrong ``step``, a joint state with NaN. Each is refused with a :class:`RefusedInputError` that
names the field and the *kind* of fault (``non_finite``, ``shape``, ...); the node counts it
(:class:`InputDiagnostics`), logs it at once and the same kind again only after a period (with
how many were suppressed meanwhile), and publishes the counts on ``/diagnostics``
(:mod:`vlash_policy.diagnostics_publisher`, the ROS convention, ``diagnostic_msgs``). The counts
are cumulative, so the latest ``DiagnosticArray`` tells a monitor, or the fuzz runner, exactly
how many inputs of each kind a node received and refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# diagnostic_msgs/DiagnosticStatus levels.
OK, WARN, ERROR = 0, 1, 2


class RefusedInputError(ValueError):
    """An input a node refuses; ``kind`` names the fault for counting (``str(error)`` says it)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class RepeatFilter:
    """Lets a key through at once, and the same key again only after a period.

    rclpy's throttle is per call site, so a different fault right after one would be swallowed
    and the operator would never learn, e.g., which field the next chunk broke.
    """

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            return False
        self._last = {k: t for k, t in self._last.items() if now - t < self._period}
        self._last[key] = now
        return True


@dataclass(frozen=True)
class DiagnosticSummary:
    """One ``diagnostic_msgs/DiagnosticStatus`` worth of content."""

    level: int
    message: str
    values: tuple[tuple[str, str], ...]
    """``(key, value)`` pairs: ``received.<input>``, ``refused.<input>.<kind>``, counters."""


def received_key(source: str) -> str:
    return f"received.{source}"


def refused_key(source: str, kind: str) -> str:
    return f"refused.{source}.{kind}"


class InputDiagnostics:
    """Counts of received and refused inputs per kind, other counters, and when to log."""

    def __init__(self, *, log_period_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self._counts: dict[str, int] = {}
        self._repeats = RepeatFilter(log_period_s, clock)
        self._suppressed: dict[str, int] = {}
        self._refused_at_last_summary = 0

    def received(self, source: str) -> None:
        """Count one message of ``source`` (e.g. ``ActionChunk``), refused or not."""
        self.add(received_key(source))

    def refuse(self, source: str, error: RefusedInputError, *, label: str = "") -> str | None:
        """Count a refused ``source`` message; the line to log now, or None (throttled).

        The line names the input (``source`` and ``label``, e.g. a chunk id), the kind and the
        error, and how many of that kind were refused without a log since the last one.
        """
        key = refused_key(source, error.kind)
        self.add(key)
        if not self._repeats.allow(key):
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        suppressed = self._suppressed.pop(key, 0)
        more = f" (+{suppressed} more {error.kind} refused since the last such log)"
        name = f"{source} {label}" if label else source
        return f"refused {name} ({error.kind}): {error}{more if suppressed else ''}"

    def add(self, key: str, count: int = 1) -> None:
        """Add to a counter (``clamped_commands``, ``reseeds``, ...)."""
        self._counts[key] = self._counts.get(key, 0) + count

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    @property
    def refused_total(self) -> int:
        return sum(n for k, n in self._counts.items() if k.startswith("refused."))

    def summary(self, extra: dict[str, str] | None = None) -> DiagnosticSummary:
        """Every counter so far; WARN when inputs were refused since the previous summary."""
        total = self.refused_total
        recent = total - self._refused_at_last_summary
        self._refused_at_last_summary = total
        if recent:
            level, message = WARN, f"{recent} inputs refused recently, {total} in all"
        else:
            level, message = OK, f"no input refused recently, {total} in all"
        values = sorted((k, str(n)) for k, n in self._counts.items())
        values += sorted((extra or {}).items())
        return DiagnosticSummary(level, message, tuple(values))


def parse_counts(values: list[tuple[str, str]]) -> dict[str, int]:
    """The integer counters of a status's ``(key, value)`` pairs (the inverse of ``summary``)."""
    return {k: int(v) for k, v in values if v.lstrip("-").isdigit()}
