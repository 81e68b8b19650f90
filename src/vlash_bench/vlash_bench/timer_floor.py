"""The host's timer floor: how late a bare periodic wake-up is on the executor's CPU.

The executor's tick lateness adds the loop's own work to what the machine gives any thread. A
thread placed as the executor places its timer thread (the control CPU, ``SCHED_FIFO`` where
permitted, see :mod:`vlash_core.cpu_placement`) that only sleeps to each period's deadline
measures the second part on an otherwise idle machine: on a virtual machine the host's
scheduling of its vCPUs sets it, and no loop on that machine ticks more punctually.
"""

from __future__ import annotations

import threading
import time

from vlash_core.cpu_placement import DEFAULT_FIFO_PRIORITY, pin_to_control_cpu, request_realtime
from vlash_sim import sample_statistics


def _sleep_to_deadlines(period_ns: int, count: int, result: dict[str, object]) -> None:
    result["cpu"] = pin_to_control_cpu()
    result["scheduling"] = request_realtime(DEFAULT_FIFO_PRIORITY).describe()
    lateness_ms = []
    start = time.monotonic_ns()
    for i in range(1, count + 1):
        deadline = start + i * period_ns
        remaining = deadline - time.monotonic_ns()
        if remaining > 0:
            time.sleep(remaining * 1e-9)
        lateness_ms.append((time.monotonic_ns() - deadline) * 1e-6)
    result["lateness_ms"] = lateness_ms


def measure_timer_floor(rate_hz: float, duration_s: float) -> dict[str, object]:
    """Lateness (ms) of ``duration_s`` of wake-ups at ``rate_hz`` on the control CPU.

    Returns the CPU, the scheduling granted, the number of wake-ups, p50/p99/max lateness and
    how many came a whole period or more late (a timer would have skipped those periods).
    """
    if not rate_hz > 0 or not duration_s > 0:
        raise ValueError(f"rate_hz and duration_s must be > 0, got {rate_hz} and {duration_s}")
    period_ns = round(1e9 / rate_hz)
    count = max(1, round(duration_s * rate_hz))
    result: dict[str, object] = {}
    # Scheduling and affinity are per thread: a thread of its own leaves the caller's alone.
    thread = threading.Thread(target=_sleep_to_deadlines, args=(period_ns, count, result))
    thread.start()
    thread.join()
    lateness = result.pop("lateness_ms")
    return {
        **result,
        "wakeups": len(lateness),
        "p50_ms": sample_statistics.percentile(lateness, 50),
        "p99_ms": sample_statistics.percentile(lateness, 99),
        "max_ms": max(lateness),
        "over_a_period": sum(late >= period_ns * 1e-6 for late in lateness),
    }
