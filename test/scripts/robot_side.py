"""The robot computer's arm and camera, and a log of what the executor did (test helper process).

    python robot_side.py LOG.jsonl

Publishes ``joint_states`` at 30 Hz following every command (a perfect position controller) and
an ``rgb8`` camera frame at 10 Hz, and appends one JSON line per executor report, command and
chunk received, stamped with wall time, so a test in another network namespace can follow the
run from the file. Runs until SIGINT.
"""

from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_msgs.msg import ActionChunk, ExecutedActions

KEEP_ALL = QoSProfile(depth=100_000, reliability=ReliabilityPolicy.RELIABLE)


def main() -> None:
    log = open(sys.argv[1], "a", buffering=1)  # noqa: SIM115 -- line-buffered until exit
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("robot_side")
    arm = [0.0] * len(SO101_JOINT_NAMES)

    def write(kind: str, **fields: object) -> None:
        log.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")

    def on_command(msg: Float64MultiArray) -> None:
        arm[:] = list(msg.data)
        write("command", position=list(msg.data))

    def on_report(msg: ExecutedActions) -> None:
        write(
            "report",
            step=msg.step,
            holding=msg.holding,
            steps_left=msg.steps_left,
            steps=list(msg.steps),
            chunk_ids=list(msg.chunk_ids),
            indices=list(msg.indices),
        )

    def on_chunk(msg: ActionChunk) -> None:
        write(
            "chunk", chunk_id=msg.chunk_id, start_step=msg.start_step, source_step=msg.source_step
        )

    joints = node.create_publisher(JointState, "joint_states", 10)
    camera = node.create_publisher(Image, "camera/image_raw", 5)

    def publish_arm() -> None:
        msg = JointState(name=list(SO101_JOINT_NAMES), position=list(arm))
        msg.header.stamp = node.get_clock().now().to_msg()
        joints.publish(msg)

    def publish_camera() -> None:
        msg = Image(encoding="rgb8", height=48, width=64, step=64 * 3, data=bytes(48 * 64 * 3))
        msg.header.stamp = node.get_clock().now().to_msg()
        camera.publish(msg)

    node.create_subscription(
        Float64MultiArray, "forward_position_controller/commands", on_command, KEEP_ALL
    )
    node.create_subscription(ExecutedActions, "vlash/executed_actions", on_report, KEEP_ALL)
    node.create_subscription(ActionChunk, "vlash/action_chunk", on_chunk, KEEP_ALL)
    node.create_timer(1.0 / 30.0, publish_arm)
    node.create_timer(0.1, publish_camera)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        log.close()


if __name__ == "__main__":
    main()
