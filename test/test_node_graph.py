"""The integration-test harness isolates graphs and never leaves processes behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlash_bringup.ros_domain import DOMAIN_IDS, lease_domain_id

ROOT = Path(__file__).resolve().parent.parent

CASE = Path(__file__).parent / "harness_cases" / "case_fails_with_children.py"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is pending


def test_domain_held_by_another_process_is_never_leased(tmp_path):
    held = DOMAIN_IDS[0]
    lock = tmp_path / f"vlash-ros-domain-{held}.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); time.sleep(600)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    leases = []
    try:
        assert holder.stdout.readline().strip() == "locked"
        leases = [lease_domain_id(tmp_path) for _ in range(len(DOMAIN_IDS) - 1)]
        ids = [lease.domain_id for lease in leases]
        assert sorted(ids) == [d for d in DOMAIN_IDS if d != held]
        with pytest.raises(RuntimeError, match="all ROS domain ids"):
            lease_domain_id(tmp_path)
        holder.kill()
        holder.wait()
        # The holder died, so its id is free again without any clean-up.
        leases.append(lease_domain_id(tmp_path))
        assert leases[-1].domain_id == held
    finally:
        holder.kill()
        holder.wait()
        for lease in leases:
            lease.release()


def test_teardown_after_a_failing_test_leaves_no_process(tmp_path):
    pid_file = tmp_path / "pids"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASE)],
        cwd=ROOT, env={**os.environ, "VLASH_HARNESS_PID_FILE": str(pid_file)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deliberate failure" in result.stdout
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    assert [pid for pid in pids if _alive(pid)] == []


def test_wait_for_topic_gives_up_after_its_timeout(ros_graph):
    with pytest.raises(TimeoutError, match="no publisher of /nobody_publishes_this"):
        ros_graph.wait_for_topic("/nobody_publishes_this", timeout_s=1.0)


def test_graphs_of_one_session_get_different_domains(ros_graph, tmp_path):
    second = lease_domain_id()
    try:
        assert second.domain_id != ros_graph.domain_id
        assert second.domain_id in DOMAIN_IDS
    finally:
        second.release()
