"""The host timer floor measures on a thread of its own, placed as the executor's timer thread."""

from __future__ import annotations

import os

import pytest

from vlash_bench.timer_floor import measure_timer_floor
from vlash_core.cpu_placement import control_cpu


def test_the_floor_sleeps_to_every_deadline_and_leaves_the_caller_alone():
    before = (os.sched_getscheduler(0), os.sched_getaffinity(0))
    floor = measure_timer_floor(100.0, 0.2)
    assert floor["wakeups"] == 20
    # A sleep never returns before its deadline, so no wake-up is early.
    assert 0.0 <= floor["p50_ms"] <= floor["p99_ms"] <= floor["max_ms"]
    assert floor["cpu"] == control_cpu()
    assert floor["scheduling"]
    assert (os.sched_getscheduler(0), os.sched_getaffinity(0)) == before


@pytest.mark.parametrize(("rate_hz", "duration_s"), [(0.0, 1.0), (50.0, -1.0)])
def test_the_floor_rejects_a_rate_or_duration_that_is_not_positive(rate_hz, duration_s):
    with pytest.raises(ValueError, match="must be > 0"):
        measure_timer_floor(rate_hz, duration_s)
