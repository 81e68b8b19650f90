"""Scheduling and CPU placement of the loop's processes, checked on the real kernel."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from vlash_core.cpu_placement import (
    FALLBACK_NICE,
    Scheduling,
    control_cpu,
    request_realtime,
)

MULTI_CPU = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="needs two or more CPUs to keep one for control"
)


def _in_thread(function):
    """``function()`` in a fresh thread, so this process's own thread keeps its settings."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(result=function()))
    thread.start()
    thread.join()
    return out["result"]


def test_the_kernel_grants_what_the_outcome_says():
    def ask() -> tuple[Scheduling, int, int]:
        outcome = request_realtime(50)
        return outcome, os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)

    outcome, policy, nice = _in_thread(ask)
    if outcome.policy == "SCHED_FIFO":
        assert policy == os.SCHED_FIFO and outcome.value == 50 and not outcome.refused
        assert outcome.describe() == "real-time scheduling SCHED_FIFO priority 50"
    elif outcome.policy == "nice":
        assert policy == os.SCHED_OTHER and nice == FALLBACK_NICE == outcome.value
        assert "SCHED_FIFO refused" in outcome.refused
    else:
        assert policy == os.SCHED_OTHER and "refused" in outcome.describe()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this thread was left alone


def test_priority_zero_asks_for_nothing_and_bad_priorities_are_refused():
    outcome = _in_thread(lambda: request_realtime(0))
    assert outcome == Scheduling("default", os.getpriority(os.PRIO_PROCESS, 0), "")
    for bad in (-1, 100):
        with pytest.raises(ValueError, match=rf"fifo_priority must be in \[0, 99\], got {bad}"):
            request_realtime(bad)


@MULTI_CPU
def test_the_control_cpu_is_the_last_allowed_one():
    assert control_cpu() == max(os.sched_getaffinity(0))


@MULTI_CPU
def test_every_thread_leaves_the_control_cpu_and_new_ones_stay_off_it():
    """A process with a thread already running moves it too; a thread started later inherits."""
    script = textwrap.dedent(
        """
        import os, threading, time
        from vlash_core.cpu_placement import avoid_control_cpu, control_cpu
        stop = threading.Event()
        early = threading.Thread(target=stop.wait)
        early.start()
        control = control_cpu()
        left = avoid_control_cpu()
        late = threading.Thread(target=stop.wait)
        late.start()
        tids = [int(t) for t in os.listdir("/proc/self/task")]
        print(control, sorted(left), len(tids), all(os.sched_getaffinity(t) == left for t in tids))
        stop.set()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    expected = sorted(os.sched_getaffinity(0) - {max(os.sched_getaffinity(0))})
    assert done.stdout.strip() == f"{max(os.sched_getaffinity(0))} {expected} 3 True", done.stdout


def test_a_process_on_one_cpu_keeps_it():
    script = textwrap.dedent(
        """
        import os
        from vlash_core.cpu_placement import avoid_control_cpu, control_cpu
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(control_cpu(), avoid_control_cpu() == os.sched_getaffinity(0))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "None True", done.stdout


# A process reads its session's autogroup as "/autogroup-<id> nice <n>". It reads nothing in the
# kernel's default group (sessions that never called setsid, as on some CI machines), and the
# file is missing without autogroup scheduling.
_AUTOGROUP = textwrap.dedent(
    """
    from vlash_core.cpu_placement import _set_session_autogroup_nice
    _set_session_autogroup_nice(7)
    try:
        print(repr(open("/proc/self/autogroup").read().strip()))
    except FileNotFoundError:
        print(repr(None))
    """
)


def _autogroup_after_setting_7(*, new_session: bool) -> str | None:
    done = subprocess.run(
        [sys.executable, "-c", _AUTOGROUP],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        start_new_session=new_session,
    )
    return ast.literal_eval(done.stdout.strip())


def _autogroup() -> str | None:
    try:
        return open("/proc/self/autogroup").read().strip()
    except FileNotFoundError:
        return None


def test_a_session_leader_gives_its_autogroup_the_nice_value():
    autogroup = _autogroup_after_setting_7(new_session=True)
    # None: a kernel without autogroup scheduling, where thread nice values rank everything.
    assert autogroup is None or autogroup.endswith(" nice 7"), autogroup


def test_a_process_in_another_session_leaves_its_autogroup_alone():
    before = _autogroup()
    assert _autogroup_after_setting_7(new_session=False) == before == _autogroup()
