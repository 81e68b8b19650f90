"""Real-time practice for the control loop: scheduling priority and CPU placement (Linux).

The executor's timer tick must not wait behind model inference, rendering or recording. As
ros2_control's controller manager does for its update thread, the executor asks the kernel for
``SCHED_FIFO`` (permitted to root or with ``CAP_SYS_NICE`` / an ``rtprio`` limit), falls back to
a lower nice value, and says which it got. It also keeps a CPU to itself, the *control CPU*: the
last one this process may run on, when there are at least two. The policy, the simulator and the
recorder pin every thread to the other CPUs, so two cores split into one for the loop and one for
everything else.

On the CPUs left, inference shares the core with rendering and recording, and every
millisecond they take from a running inference adds to Δ and to the reaction latency (VLASH
Sec. 4.1). Neither is made to yield, for what that was measured to cost:

- the simulator stands for the arm and its camera, and a starved camera delivers old frames. In
  one 65 s vlash run at 50 Hz with the simulator reniced to 19 after 35 s, inference p99 went
  from 129 to 35 ms, but the observation's age when inference starts went from p95 45 to 86 ms
  and observation to chunk stayed at p95 ~120 ms;
- with the recorder at nice 19, a CI run's bag lacked the policy's first chunk
  (``test_user_journey``): the recorder most likely matched the policy's publisher late for want
  of CPU while the nodes started, and a recorder must lose nothing.

A thread's scheduling policy, nice value and affinity are per thread in Linux, and threads
inherit them when they are created: :func:`request_realtime` changes the calling thread (the one
that spins the node's timers), :func:`avoid_control_cpu` every thread the process has now and
those it creates later (torch's intra-op pool, DDS's receive threads). With autogroup scheduling
a nice value only ranks threads within one session, and each node the project's launcher starts
leads a session of its own, so the nice fallback goes to the session's autogroup too.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

# ros2_control's default priority for its real-time update thread.
DEFAULT_FIFO_PRIORITY = 50
# What an unprivileged process may still get where SCHED_FIFO is refused (with CAP_SYS_NICE or
# an RLIMIT_NICE allowing it).
FALLBACK_NICE = -10


@dataclass(frozen=True)
class Scheduling:
    """What the kernel granted the calling thread."""

    policy: str
    """``SCHED_FIFO``, ``nice`` or ``default`` (nothing granted, or nothing asked)."""
    value: int
    """The FIFO priority, or the nice value."""
    refused: str
    """Why a stronger setting was refused ("" when the first choice was granted)."""

    def describe(self) -> str:
        if self.policy == "SCHED_FIFO":
            return f"real-time scheduling SCHED_FIFO priority {self.value}"
        granted = f"nice {self.value}" if self.policy == "nice" else "default scheduling"
        return f"{granted} ({self.refused})" if self.refused else granted


def request_realtime(fifo_priority: int) -> Scheduling:
    """Ask ``SCHED_FIFO`` at ``fifo_priority`` for the calling thread, else nice -10.

    ``fifo_priority`` 0 asks for nothing. Raises ``ValueError`` outside ``[0, 99]``.
    """
    if not 0 <= fifo_priority <= 99:
        raise ValueError(f"fifo_priority must be in [0, 99], got {fifo_priority}")
    if fifo_priority == 0:
        return Scheduling("default", os.getpriority(os.PRIO_PROCESS, 0), "")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo_priority))
        return Scheduling("SCHED_FIFO", fifo_priority, "")
    except PermissionError as error:
        refused = f"SCHED_FIFO refused: {error.strerror}"
    try:
        # PRIO_PROCESS with 0 is the calling thread: Linux keeps a nice value per thread.
        os.setpriority(os.PRIO_PROCESS, 0, FALLBACK_NICE)
        _set_session_autogroup_nice(FALLBACK_NICE)
        return Scheduling("nice", FALLBACK_NICE, refused)
    except PermissionError as error:
        refused += f"; nice {FALLBACK_NICE} refused: {error.strerror}"
    return Scheduling("default", os.getpriority(os.PRIO_PROCESS, 0), refused)


def _set_session_autogroup_nice(nice: int) -> None:
    """Give this session's autogroup ``nice`` when this process leads the session.

    With autogroup scheduling a thread's nice value only ranks it within its session; across
    sessions the autogroups' nice values decide. A process inside someone else's session (a
    terminal, ``ros2 launch``) leaves that session alone.
    """
    if os.getsid(0) != os.getpid():
        return
    # FileNotFoundError: a kernel without autogroup scheduling.
    with contextlib.suppress(FileNotFoundError), open("/proc/self/autogroup", "w") as group:
        group.write(str(nice))


def control_cpu() -> int | None:
    """The CPU the executor keeps to itself: the last allowed one (None with a single CPU)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-1] if len(allowed) > 1 else None


def pin_to_control_cpu() -> int | None:
    """Run the calling thread (and threads it creates) on :func:`control_cpu` only; returns it."""
    cpu = control_cpu()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    return cpu


def avoid_control_cpu() -> frozenset[int]:
    """Move every thread of this process off :func:`control_cpu`; returns the CPUs left to it.

    Call it before starting threads where possible: a thread created later inherits the
    affinity of its creator, which may be one of the threads moved here.
    """
    allowed = frozenset(os.sched_getaffinity(0))
    cpu = control_cpu()
    if cpu is None:
        return allowed
    others = allowed - {cpu}
    for tid in _thread_ids():
        try:
            os.sched_setaffinity(tid, others)
        except ProcessLookupError:  # the thread ended meanwhile
            continue
    return others


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except FileNotFoundError:  # no procfs: only the calling thread can be named
        return [0]
