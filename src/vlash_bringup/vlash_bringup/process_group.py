"""Start processes in their own process groups and always tear all of them down.

Used by the project launcher (scripts/vlash_launch.py) and the integration-test harness
(test/ros_harness.py). Each process leads a new session, so stopping it reaches every child it
spawned: SIGINT first (a ROS node shuts down cleanly), SIGKILL for whatever is left after the
grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path | None

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of the process output ("" when output is not captured)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class ProcessGroup:
    """A set of processes that is stopped as a whole (use as a context manager).

    ``log_dir``: write each process's stdout+stderr to ``log_dir/<name>.log``; None lets them
    inherit the terminal.
    """

    def __init__(self, log_dir: Path | None = None) -> None:
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str]) -> ManagedProcess:
        if any(p.name == name for p in self.processes):
            raise ValueError(f"process name {name!r} is already used in this group")
        log_path = None
        out: int | IO[bytes] | None = None
        if self.log_dir is not None:
            log_path = self.log_dir / f"{name}.log"
            out = open(log_path, "wb")  # noqa: SIM115 -- closed in stop()
            self._logs.append(out)
        popen = subprocess.Popen(
            list(cmd),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
        )
        proc = ManagedProcess(name, popen, log_path)
        self.processes.append(proc)
        return proc

    def first_exited(self) -> ManagedProcess | None:
        """A process that has exited, or None while all run."""
        return next((p for p in self.processes if p.popen.poll() is not None), None)

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGINT every process group, SIGKILL the groups after ``grace_s``, reap the leaders."""
        for proc in self.processes:
            if proc.popen.poll() is None:
                _signal_group(proc.popen.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Also after a clean exit of the leader: children it left behind are still in its group.
        for proc in self.processes:
            _signal_group(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(pgid, sig)
