"""An isolated ROS 2 graph on this machine: an exclusively leased domain id, localhost discovery.

Used by the integration tests and by the demo, so concurrent runs never see each other's nodes.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import tempfile
from pathlib import Path
from typing import IO

# Domain ids 1..101: 0 is where a developer's own ROS nodes live by default, and above 101 the
# DDS port ranges collide with Linux's ephemeral ports.
DOMAIN_IDS = range(1, 102)
_lease_counter = itertools.count()
# Shared by every user of the machine, so leases exclude each other across test sessions.
LOCK_DIR = Path(tempfile.gettempdir())


class DomainLease:
    """An exclusively held ROS domain id; the lock is released by :meth:`release` or at exit."""

    def __init__(self, domain_id: int, lock_file: IO[str]) -> None:
        self.domain_id = domain_id
        self._lock_file = lock_file

    def release(self) -> None:
        self._lock_file.close()  # closing drops the flock


def lease_domain_id(lock_dir: Path = LOCK_DIR) -> DomainLease:
    """Lease a free domain id, starting from one derived from pid and a per-process counter.

    A held ``flock`` on ``vlash-ros-domain-<id>.lock`` marks the id as in use; the kernel drops it
    when the holder dies, so a crashed session never blocks an id.
    """
    start = (os.getpid() * 31 + next(_lease_counter)) % len(DOMAIN_IDS)
    for offset in range(len(DOMAIN_IDS)):
        domain_id = DOMAIN_IDS[(start + offset) % len(DOMAIN_IDS)]
        lock_file = open(lock_dir / f"vlash-ros-domain-{domain_id}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            continue
        return DomainLease(domain_id, lock_file)
    raise RuntimeError(f"all ROS domain ids {DOMAIN_IDS} are leased by other test sessions")


def ros_environment(domain_id: int) -> dict[str, str]:
    """This process's environment for an isolated, localhost-only graph in ``domain_id``."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the discovery range
    env.pop("ROS_STATIC_PEERS", None)
    env["PYTHONUNBUFFERED"] = "1"  # node logs reach the log file before a failure is reported
    return env
