"""Watch a running VLASH graph from the process that launched it: readiness, status line, rates.

scripts/vlash_launch.py and scripts/demo.py follow their graph through one :class:`Monitor`, an
rclpy node in a context of its own that subscribes to the policy's chunks, the executor's
reports, the arm's joint states and the simulator's task events, and print its
:class:`LoopStatus` as one :class:`StatusLine`. A node counts as ready when its first message
arrives (:data:`READY_TOPICS`: the policy with its first chunk, after loading the model) or, for
a node that publishes nothing of its own (the recorder), when it appears on the graph.
"""

from __future__ import annotations

import bisect
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

# What a node publishes once it is up, by executable; relative to the launch namespace.
READY_TOPICS: dict[str, str] = {
    "sim_arm_node": "joint_states",
    "executor_node": "vlash/executed_actions",
    "policy_node": "vlash/action_chunk",
}
# Rates shown live are over this window; the run's summary is over the whole loop.
RATE_WINDOW_S = 3.0


class EventTimes:
    """Monotonic arrival times of one kind of message, for its rate."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def add(self, now: float) -> None:
        self.times.append(now)

    @property
    def first_s(self) -> float | None:
        return self.times[0] if self.times else None

    def rate_hz(self, since_s: float, until_s: float) -> float | None:
        """Messages per second in ``[since_s, until_s]``; None over an empty window."""
        if until_s <= since_s:
            return None
        lo = bisect.bisect_left(self.times, since_s)
        hi = bisect.bisect_right(self.times, until_s)
        return (hi - lo) / (until_s - since_s)

    def recent_rate_hz(self, now: float, window_s: float = RATE_WINDOW_S) -> float | None:
        """Rate over the last ``window_s`` (or since the first message, if more recent)."""
        if self.first_s is None:
            return None
        return self.rate_hz(max(self.first_s, now - window_s), now)


@dataclass
class LoopStatus:
    """What the monitor has seen; targets count from the first chunk (those shown while the
    policy was still loading never had a chance)."""

    first_seen_s: dict[str, float] = field(default_factory=dict)
    """Relative topic -> monotonic time of its first message."""
    chunks: int = 0
    delays: list[int] = field(default_factory=list)
    step: int | None = None
    control_period_s: float | None = None
    reports: EventTimes = field(default_factory=EventTimes)
    joint_states: EventTimes = field(default_factory=EventTimes)
    shown: set[int] = field(default_factory=set)
    hit: int = 0
    missed: int = 0

    @property
    def first_chunk_s(self) -> float | None:
        return self.first_seen_s.get(READY_TOPICS["policy_node"])

    @property
    def delay_steps(self) -> int | None:
        return self.delays[-1] if self.delays else None


class Monitor:
    """An rclpy node of its own context following the graph's topics in ``namespace``.

    ``domain_id`` None uses ``ROS_DOMAIN_ID`` of the environment. rclpy installs no signal
    handlers for it: Ctrl-C stays the launching script's to handle.
    """

    def __init__(self, *, domain_id: int | None = None, namespace: str = "") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import JointState

        from vlash_msgs.msg import ActionChunk, ExecutedActions, TaskEvent

        self._context = rclpy.Context()
        rclpy.init(
            context=self._context,
            domain_id=domain_id,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self._node = rclpy.create_node(
            "vlash_monitor", namespace=self.namespace or "/", context=self._context
        )
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self.status = LoopStatus()
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        sub = self._node.create_subscription
        sub(ActionChunk, READY_TOPICS["policy_node"], self._on_chunk, reliable)
        sub(ExecutedActions, READY_TOPICS["executor_node"], self._on_report, reliable)
        sub(JointState, READY_TOPICS["sim_arm_node"], self._on_joint_state, 10)
        sub(TaskEvent, "sim/task_events", self._on_event, reliable)

    def _seen(self, topic: str) -> float:
        now = time.monotonic()
        self.status.first_seen_s.setdefault(topic, now)
        return now

    def _on_chunk(self, msg: Any) -> None:
        self._seen(READY_TOPICS["policy_node"])
        self.status.chunks += 1
        self.status.delays.append(int(msg.delay_steps))

    def _on_report(self, msg: Any) -> None:
        self.status.reports.add(self._seen(READY_TOPICS["executor_node"]))
        self.status.step = int(msg.step)
        if msg.control_period > 0:
            self.status.control_period_s = float(msg.control_period)

    def _on_joint_state(self, msg: Any) -> None:
        self.status.joint_states.add(self._seen(READY_TOPICS["sim_arm_node"]))

    def _on_event(self, msg: Any) -> None:
        s = self.status
        if msg.kind == "shown" and s.first_chunk_s is not None:
            s.shown.add(msg.target_id)
        elif msg.kind == "hit" and msg.target_id in s.shown:
            s.hit += 1
        elif msg.kind == "missed" and msg.target_id in s.shown:
            s.missed += 1

    def node_names(self) -> set[str]:
        """Names of the nodes discovered in the monitor's namespace."""
        return {
            name
            for name, ns in self._node.get_node_names_and_namespaces()
            if ns.rstrip("/") == self.namespace
        }

    def get_parameter(self, node_name: str, parameter: str, timeout_s: float = 5.0) -> Any:
        """``parameter`` of node ``node_name`` (same namespace); None if it does not answer."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        client = self._node.create_client(GetParameters, f"{node_name}/get_parameters")
        try:
            deadline = time.monotonic() + timeout_s
            while not client.service_is_ready() and time.monotonic() < deadline:
                self.spin_for(0.1)
            if not client.service_is_ready():
                return None
            future = client.call_async(GetParameters.Request(names=[parameter]))
            while not future.done() and time.monotonic() < deadline:
                self.spin_for(0.1)
            if not future.done() or not future.result().values:
                return None
            return parameter_value_to_python(future.result().values[0])
        finally:
            self._node.destroy_client(client)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._executor.spin_once(timeout_sec=min(left, 0.1))

    def close(self) -> None:
        self._executor.shutdown()
        self._node.destroy_node()
        self._context.try_shutdown()


def format_rate(rate: float | None) -> str:
    return "--" if rate is None else f"{rate:.1f}"


class StatusLine:
    """The live status: rewritten in place on a terminal, else appended every ``interval_s``."""

    def __init__(self, *, log_interval_s: float = 1.0) -> None:
        self._tty = sys.stdout.isatty()
        self.interval_s = 1.0 if self._tty else log_interval_s
        self._started = time.monotonic()
        self._width = 0

    def show(self, status: LoopStatus, phase: str) -> None:
        """Print ``phase`` (e.g. the loop clock) and the rates and counts of ``status``."""
        now = time.monotonic()
        control = format_rate(status.reports.recent_rate_hz(now))
        parts = [f"[{now - self._started:4.0f} s] {phase}", f"control {control} Hz"]
        if status.joint_states.first_s is not None:
            parts.append(f"arm {format_rate(status.joint_states.recent_rate_hz(now))} Hz")
        delay = "-" if status.delay_steps is None else str(status.delay_steps)
        parts += [f"Δ {delay} steps", f"{status.chunks} chunks"]
        parts.append(f"targets {len(status.shown)} shown, {status.hit} hit, {status.missed} missed")
        line = " | ".join(parts)
        if self._tty:
            # Cut to the terminal width: a wrapped line could not be rewritten in place.
            line = line[: shutil.get_terminal_size().columns - 1]
            sys.stdout.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def end(self) -> None:
        """Finish the line in place, so what follows starts on a line of its own."""
        if self._tty and self._width:
            sys.stdout.write("\n")
            self._width = 0

    def print(self, text: str) -> None:
        """A line of its own between status updates."""
        self.end()
        print(text, flush=True)
