"""Publish msg_samples.samples() on samples/<Type> until SIGINT (test helper process)."""

from __future__ import annotations

import sys
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from msg_samples import samples

# Transient local: a subscriber that discovers us late still gets the sample.
QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def main() -> None:
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("sample_publisher")
    for type_name, msg in samples().items():
        node.create_publisher(type(msg), f"samples/{type_name}", QOS).publish(msg)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
