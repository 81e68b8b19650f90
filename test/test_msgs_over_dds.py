"""Every vlash_msgs interface crosses a process boundary over Fast DDS unchanged."""

from __future__ import annotations

from pathlib import Path

from msg_samples import leaf_fields, samples
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

PUBLISHER = Path(__file__).parent / "scripts" / "publish_samples.py"
QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def test_every_sample_field_differs_from_its_default():
    # Otherwise a field dropped in transport could still compare equal.
    for type_name, msg in samples().items():
        default = dict(leaf_fields(type(msg)(), type_name))
        for path, value in leaf_fields(msg, type_name):
            assert value != default[path], f"{path} keeps its default {value!r} in the sample"


def test_each_interface_round_trips_between_processes(ros_graph):
    expected = samples()
    received: dict[str, object] = {}
    for type_name, msg in expected.items():
        ros_graph.node.create_subscription(
            type(msg),
            f"samples/{type_name}",
            lambda m, name=type_name: received.setdefault(name, m),
            QOS,
        )
    ros_graph.start_script(PUBLISHER, "--ros-args", name="publisher")
    ros_graph.spin_until(
        lambda: len(received) == len(expected), 30.0, f"samples received: only {sorted(received)}"
    )
    for type_name, msg in expected.items():
        got = dict(leaf_fields(received[type_name], type_name))
        for path, value in leaf_fields(msg, type_name):
            assert got[path] == value, f"{path}: sent {value!r}, received {got[path]!r}"
