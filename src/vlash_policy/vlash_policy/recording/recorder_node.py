"""Recorder node: the suite's topics into an MCAP rosbag2, where ``ros2 bag record`` is missing.

Run: ``python -m vlash_policy.recording.recorder_node --ros-args -p output_dir:=runs/bag1
-p topics:="['joint_states:sensor_msgs/msg/JointState', ...]"``.

Topics and their types are explicit parameters (defaults: every topic the arm, executor and
policy publish), not discovered on the graph, so a publisher that appears late is still recorded.
Subscriptions are raw: the CDR bytes go into the bag unparsed, and the vlash_msgs schemas come
from the interface's ``.msg`` text (:mod:`.bag_io`). Each message is stamped with its receive
time (header stamps stay inside the messages). SIGINT/SIGTERM first drain the messages already
received, then close the bag (writing ``metadata.yaml``) and log the per-topic counts.
"""

from __future__ import annotations

import importlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import IntegerRange, ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from vlash_core.cpu_placement import avoid_control_cpu
from vlash_core.node_runner import AVOID_CONTROL_CPU, create_node
from vlash_policy.recording.bag_io import (
    DEFAULT_TOPICS,
    INTERFACE_PACKAGES,
    BagWriter,
    find_interface_dir,
    make_typestore,
    parse_topic_specs,
    stale_types,
)

# Spin slice while recording: bounds how late a SIGINT is noticed, not how messages are taken.
_SPIN_SLICE_S = 0.1
_DRAIN_LIMIT_S = 2.0

PARAMETERS = [
    (
        "output_dir",
        "",
        ParameterDescriptor(
            description="Bag directory to create (must not exist); empty = "
            "rosbag2_<YYYY_MM_DD-HH_MM_SS> in the working directory, like ros2 bag record.",
            read_only=True,
        ),
    ),
    (
        "topics",
        [f"{topic}:{msgtype}" for topic, msgtype in DEFAULT_TOPICS.items()],
        ParameterDescriptor(
            description="Topics to record as 'topic:package/msg/Type'.", read_only=True
        ),
    ),
    (
        "qos_depth",
        100,
        ParameterDescriptor(
            description="History depth of each reliable subscription.",
            integer_range=[IntegerRange(from_value=1, to_value=100000, step=1)],
            read_only=True,
        ),
    ),
    AVOID_CONTROL_CPU,
]


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``package/msg/Type`` (the package must be sourced)."""
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"message type {msgtype!r} cannot be imported ({error}); is {package} built and "
            "sourced?"
        ) from error


def default_bag_path() -> Path:
    return Path.cwd() / time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")


class RecorderNode(Node):
    """Raw subscriptions on the configured topics, written into one MCAP bag in callbacks."""

    def __init__(self, *, node_name: str = "vlash_recorder") -> None:
        super().__init__(node_name)
        p = {param.name: param.value for param in self.declare_parameters("", PARAMETERS)}
        if p["avoid_control_cpu"]:
            avoid_control_cpu()
        specs = parse_topic_specs(p["topics"])
        typestore = make_typestore()
        for package in INTERFACE_PACKAGES:
            stale = stale_types(typestore, package, find_interface_dir(package))
            if stale:
                raise RuntimeError(
                    f"{package} was edited after it was built ({sorted(stale)} hash differently "
                    f"from the build); rebuild it (colcon build --packages-select {package}) "
                    "so the bag's schemas match the messages on the wire"
                )
        topics = {self.resolve_topic_name(topic): msgtype for topic, msgtype in specs.items()}
        classes = {topic: message_class(msgtype) for topic, msgtype in topics.items()}
        path = Path(p["output_dir"]) if p["output_dir"] else default_bag_path()
        self.bag = BagWriter(path, topics, typestore=typestore)
        qos = QoSProfile(depth=p["qos_depth"], reliability=ReliabilityPolicy.RELIABLE)
        for topic, cls in classes.items():
            self.create_subscription(
                cls,
                topic,
                lambda data, info, t=topic: self._on_message(t, data, info),
                qos,
                raw=True,
            )
        self.get_logger().info(f"recording {len(topics)} topics into {path}")

    def _on_message(self, topic: str, data: bytes, info: Any) -> None:
        # The middleware's receive time excludes our executor queueing; 0 = rmw doesn't report.
        received = info["received_timestamp"] or self.get_clock().now().nanoseconds
        self.bag.write(topic, received, data)

    @property
    def total(self) -> int:
        return sum(self.bag.counts.values())

    def close(self) -> None:
        """Close the bag (writes metadata.yaml) and log what was recorded."""
        if self.bag.closed:
            return
        self.bag.close()
        counts = ", ".join(f"{topic}: {n}" for topic, n in self.bag.counts.items())
        self.get_logger().info(f"closed {self.bag.path} with {self.total} messages ({counts})")


def drain(executor: SingleThreadedExecutor, node: RecorderNode) -> None:
    """Run callbacks until a spin slice delivers nothing: keep what DDS already received.

    At most ``_DRAIN_LIMIT_S``: on a live graph (30 Hz executor reports) a message arrives
    within every slice, and a drain that waited for a quiet one never ended. What was already
    received when the signal came is taken within milliseconds.
    """
    deadline = time.monotonic() + _DRAIN_LIMIT_S
    while time.monotonic() < deadline:
        before = node.total
        executor.spin_once(timeout_sec=_SPIN_SLICE_S)
        if node.total == before:
            return


def main(args: list[str] | None = None) -> None:
    # Our own handlers instead of rclpy's: rclpy's would shut the context down at once and drop
    # the messages already queued for the recorder.
    stop = threading.Event()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = None
    try:
        node = create_node(RecorderNode)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set():
            executor.spin_once(timeout_sec=_SPIN_SLICE_S)
        drain(executor, node)
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
