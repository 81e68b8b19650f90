"""Scheduling and CPU placement of the loop's processes, checked on the real kernel."""

from __future__ import annotations

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
    yield_to_inference,
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


_YIELD = textwrap.dedent(
    """
    import os, threading
    from vlash_core.cpu_placement import yield_to_inference
    stop = threading.Event()
    early = threading.Thread(target=stop.wait)
    early.start()
    granted = yield_to_inference(7)
    late = threading.Thread(target=stop.wait)
    late.start()
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    nices = {os.getpriority(os.PRIO_PROCESS, t) for t in tids}
    try:
        autogroup = open("/proc/self/autogroup").read().split()[-1]
    except FileNotFoundError:
        autogroup = "none"
    print(granted, len(tids), sorted(nices), autogroup)
    stop.set()
    """
)


def _yield_in_subprocess(*, new_session: bool) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _YIELD],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        start_new_session=new_session,
    )
    return done.stdout.split()


def _autogroup_nice() -> str:
    try:
        return open("/proc/self/autogroup").read().split()[-1]
    except FileNotFoundError:
        return "none"


def test_a_session_leader_yields_with_every_thread_and_its_autogroup():
    granted, threads, nices, autogroup = _yield_in_subprocess(new_session=True)
    assert (granted, threads, nices) == ("7", "3", "[7]")
    assert autogroup in ("7", "none")  # "none": a kernel without autogroup scheduling


def test_a_process_in_another_session_leaves_its_autogroup_alone():
    before = _autogroup_nice()
    granted, threads, nices, autogroup = _yield_in_subprocess(new_session=False)
    assert (granted, threads, nices) == ("7", "3", "[7]")
    assert autogroup == before == _autogroup_nice()


def test_nice_zero_changes_nothing_and_bad_values_are_refused():
    before = os.getpriority(os.PRIO_PROCESS, 0)
    assert yield_to_inference(0) == 0 and os.getpriority(os.PRIO_PROCESS, 0) == before
    for bad in (-1, 20):
        with pytest.raises(ValueError, match=rf"nice must be in \[0, 19\], got {bad}"):
            yield_to_inference(bad)
