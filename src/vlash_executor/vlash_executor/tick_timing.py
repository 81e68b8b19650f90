"""Per-tick control timing: how late each timer call was and how many periods were missed."""

from __future__ import annotations

from collections import deque

import numpy as np


def skipped_periods(previous_expected_ns: int, expected_ns: int, period_ns: float) -> int:
    """Timer periods with no call between two consecutive calls' expected times.

    A timer that falls more than a period behind skips whole periods: its next expected call
    jumps. A call that is late but runs within its period skips nothing, so this counts from the
    expected times, never from the actual ones.
    """
    return max(0, round((expected_ns - previous_expected_ns) / period_ns) - 1)


class TickTiming:
    """Records expected vs. actual call times of a periodic timer over a sliding window."""

    def __init__(self, *, period_s: float, window: int = 100_000) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._period_ns = period_s * 1e9
        self._lateness_s: deque[float] = deque(maxlen=window)
        self._missed = 0
        self._ticks = 0
        self._last_expected_ns: int | None = None

    def record(self, expected_ns: int, actual_ns: int) -> float:
        """Add one call; returns its lateness (actual - expected) in seconds.

        The periods skipped between two calls (:func:`skipped_periods`) are counted as missed
        ticks. The first call only starts the count: the timer runs from the node's constructor,
        so its lateness is the node's start-up (configuring, arming, freezing the heap), not the
        loop's timing.
        """
        lateness = (actual_ns - expected_ns) / 1e9
        if self._last_expected_ns is not None:
            self._missed += skipped_periods(self._last_expected_ns, expected_ns, self._period_ns)
            self._ticks += 1
            self._lateness_s.append(lateness)
        self._last_expected_ns = expected_ns
        return lateness

    def summary(self) -> dict[str, float]:
        """Tick count, missed ticks and lateness percentiles (ms) over the window."""
        if not self._lateness_s:
            return {"ticks": 0, "missed_ticks": self._missed}
        ms = np.asarray(self._lateness_s) * 1e3
        return {
            "ticks": self._ticks,
            "missed_ticks": self._missed,
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()),
        }
