"""A graph of node processes over real DDS, for integration tests and benchmarks.

Every user (a test, the reaction benchmark) gets its own :class:`NodeGraph`: a ROS domain id leased
exclusively for it (so concurrently running test sessions on one machine never see each other's
nodes), localhost-only discovery, processes started in their own process groups and always torn
down, and an rclpy node in a private context to observe the graph.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vlash_bringup.graph import find_executable
from vlash_bringup.process_group import ManagedProcess, ProcessGroup
from vlash_bringup.ros_domain import lease_domain_id, ros_environment


class NodeGraph:
    """Processes and an observer node sharing one leased domain. Always call :meth:`close`."""

    def __init__(self, log_dir: Path) -> None:
        self.lease = lease_domain_id()
        self.env = ros_environment(self.lease.domain_id)
        self.processes = ProcessGroup(log_dir)
        self._node: Any = None
        self._context: Any = None
        self._executor: Any = None
        self._interrupted: list[ManagedProcess] = []

    @property
    def domain_id(self) -> int:
        return self.lease.domain_id

    def start_node(
        self, package: str, executable: str, ros_args: Sequence[str], name: str
    ) -> ManagedProcess:
        """Start an installed node executable (found like ``ros2 run`` does) with ``ros_args``."""
        exe = find_executable(package, executable)
        if exe is None:
            raise FileNotFoundError(f"{package}/{executable} is not installed (run make setup)")
        return self.processes.start(name, [str(exe), *ros_args], self.env)

    def start_script(self, script: Path, *args: str, name: str) -> ManagedProcess:
        """Start a Python script with this interpreter in the graph's environment."""
        return self.processes.start(name, [sys.executable, str(script), *args], self.env)

    @property
    def node(self) -> Any:
        """An rclpy observer node in the leased domain (created on first use)."""
        self._start_observer()
        return self._node

    def _start_observer(self) -> None:
        if self._node is None:
            import rclpy
            from rclpy.executors import SingleThreadedExecutor

            # rcl reads the discovery range from the environment when the context starts.
            os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
            os.environ.pop("ROS_LOCALHOST_ONLY", None)
            self._context = rclpy.Context()
            rclpy.init(context=self._context, domain_id=self.domain_id)
            self._node = rclpy.create_node("vlash_test_observer", context=self._context)
            self._executor = SingleThreadedExecutor(context=self._context)
            self._executor.add_node(self._node)

    def spin_until(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Spin the observer node until ``done()``; raise ``TimeoutError`` naming ``what``."""
        self._start_observer()
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout_s} s\n{self.logs()}")
            exited = next(
                (
                    p
                    for p in self.processes.processes
                    if p.popen.poll() is not None and p not in self._interrupted
                ),
                None,
            )
            if exited is not None:
                raise RuntimeError(
                    f"{exited.name} exited with {exited.popen.returncode} while waiting for "
                    f"{what}\n{self.logs()}"
                )
            self._executor.spin_once(timeout_sec=0.05)

    def spin_once(self, timeout_s: float = 0.0) -> None:
        """Handle what arrived (up to one callback), waiting at most ``timeout_s`` for it."""
        self._start_observer()
        self._executor.spin_once(timeout_sec=timeout_s)

    def spin_for(self, seconds: float) -> None:
        """Spin the observer node for ``seconds`` (failing if a process exits meanwhile)."""
        deadline = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() >= deadline, seconds + 60.0, "spin_for")

    def interrupt(self, process: ManagedProcess, timeout_s: float = 30.0) -> int:
        """SIGINT ``process`` (a node shuts down cleanly), wait for it, return its exit code.

        Later :meth:`spin_until` calls do not count its exit as a failure, so a test can stop
        publishers one by one and keep observing the rest of the graph.
        """
        self._interrupted.append(process)
        if process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGINT)
        return process.popen.wait(timeout=timeout_s)

    def kill(self, process: ManagedProcess, timeout_s: float = 30.0) -> int:
        """SIGKILL ``process``'s group (a crash), wait for it; later waits accept its exit."""
        self._interrupted.append(process)
        if process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGKILL)
        return process.popen.wait(timeout=timeout_s)

    def wait_for_topic(self, topic: str, timeout_s: float = 20.0) -> None:
        """Wait until some process publishes ``topic`` (DDS discovery took 1-3 s here)."""
        self.spin_until(
            lambda: self.node.count_publishers(topic) > 0, timeout_s, f"no publisher of {topic}"
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} (exit {p.popen.poll()}) ---\n{p.log_tail()}"
            for p in self.processes.processes
        )

    def close(self) -> None:
        try:
            if self._node is not None:
                self._executor.shutdown()
                self._node.destroy_node()
                self._context.try_shutdown()
        finally:
            self.processes.stop()
            self.lease.release()
