"""Simulated SO-101 arm node: the whack-a-mole MuJoCo environment behind ros2_control-style topics.

It stands in for a real arm on machines without hardware. A timer steps the physics in real
time, publishes ``joint_states`` and the camera image, accepts the same command topics as a
ros2_control arm (forward position controller, joint trajectory controller, or a JointState
command) and reports task events (target shown, hit, missed).
"""

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vlash_core.cpu_placement import avoid_control_cpu
from vlash_core.node_runner import AVOID_CONTROL_CPU, parameter_descriptor, run_node
from vlash_msgs.msg import TaskEvent
from vlash_policy.image_conversion import rgb_to_image_fields
from vlash_sim.so101_env import (
    DEFAULT_CONTROL_RATE_HZ,
    DEFAULT_HIT_RADIUS_M,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_TARGET_GAP_S,
    DEFAULT_TARGET_LIFETIME_S,
    WhackAMoleEnv,
)
from vlash_sim.trajectory_follower import TrajectoryFollower


class SimArmNode(Node):
    """Steps the simulated arm in real time and speaks the topics of a ros2_control arm."""

    def __init__(self, *, node_name: str = "sim_arm") -> None:
        super().__init__(node_name)
        p = {
            param.name: param.value
            for param in self.declare_parameters(
                "",
                [
                    ("seed", 0, parameter_descriptor("Task random seed.", ints=(0, 2**31 - 1))),
                    (
                        "sim_rate_hz",
                        DEFAULT_CONTROL_RATE_HZ,
                        parameter_descriptor(
                            "Physics control periods per second.", floats=(1.0, 500.0)
                        ),
                    ),
                    (
                        "image_every_n_steps",
                        1,
                        parameter_descriptor(
                            "Publish a camera frame every n steps.", ints=(1, 1000)
                        ),
                    ),
                    (
                        "image_size",
                        DEFAULT_IMAGE_SIZE,
                        parameter_descriptor("Square camera image size.", ints=(8, 1024)),
                    ),
                    (
                        "target_lifetime_s",
                        DEFAULT_TARGET_LIFETIME_S,
                        parameter_descriptor("How long a target stays.", floats=(0.05, 600.0)),
                    ),
                    (
                        "target_gap_s",
                        DEFAULT_TARGET_GAP_S,
                        parameter_descriptor("Idle time between targets.", floats=(0.0, 600.0)),
                    ),
                    (
                        "hit_radius_m",
                        DEFAULT_HIT_RADIUS_M,
                        parameter_descriptor(
                            "Tip-to-target distance that counts as a hit.", floats=(0.001, 1.0)
                        ),
                    ),
                    (
                        "camera_frame_id",
                        "scene_camera",
                        parameter_descriptor("frame_id of the images."),
                    ),
                    AVOID_CONTROL_CPU,
                ],
            )
        }
        self._env = WhackAMoleEnv(
            seed=p["seed"],
            control_rate_hz=p["sim_rate_hz"],
            target_lifetime_s=p["target_lifetime_s"],
            target_gap_s=p["target_gap_s"],
            hit_radius_m=p["hit_radius_m"],
            image_size=p["image_size"],
            render=True,
        )
        self._image_every = p["image_every_n_steps"]
        self._frame_id = p["camera_frame_id"]
        self._joint_names = list(self._env.joint_names)
        self._target = self._env.home_position.copy()
        self._follower = TrajectoryFollower(joint_names=self._joint_names)

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._image_pub = self.create_publisher(Image, "camera/image_raw", 5)
        self._event_pub = self.create_publisher(TaskEvent, "sim/task_events", reliable)
        self.create_subscription(
            Float64MultiArray, "forward_position_controller/commands", self._on_forward, reliable
        )
        self.create_subscription(
            JointTrajectory,
            "joint_trajectory_controller/joint_trajectory",
            self._on_trajectory,
            reliable,
        )
        self.create_subscription(JointState, "joint_command", self._on_joint_command, reliable)
        self._timer = self.create_timer(1.0 / p["sim_rate_hz"], self._on_step)
        self._publish_observation(self._env.reset(seed=p["seed"]), with_image=True)
        # After the first frame: Mesa starts its helper threads then, with every CPU allowed.
        if p["avoid_control_cpu"]:
            avoid_control_cpu()

    def _on_forward(self, msg: Float64MultiArray) -> None:
        self._set_target(msg.data, "forward_position_controller/commands.data")

    def _on_joint_command(self, msg: JointState) -> None:
        try:
            self._set_target(self._follower.reorder(msg.name, msg.position), "joint_command")
        except ValueError as error:
            self.get_logger().error(str(error), throttle_duration_sec=2.0)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            self._follower.set_trajectory(
                msg.joint_names,
                [list(point.positions) for point in msg.points],
                [
                    point.time_from_start.sec + point.time_from_start.nanosec * 1e-9
                    for point in msg.points
                ],
                start_s=self.get_clock().now().nanoseconds * 1e-9,
                current=self._target,
            )
        except ValueError as error:
            self.get_logger().error(str(error), throttle_duration_sec=2.0)

    def _set_target(self, values, field: str) -> None:
        target = np.asarray(values, dtype=np.float64)
        if target.shape != (len(self._joint_names),) or not np.all(np.isfinite(target)):
            self.get_logger().error(
                f"{field} needs {len(self._joint_names)} finite values, got {list(values)}",
                throttle_duration_sec=2.0,
            )
            return
        self._follower.clear()
        self._target = target

    def _on_step(self) -> None:
        followed = self._follower.sample(self.get_clock().now().nanoseconds * 1e-9)
        if followed is not None:
            self._target = followed
        # Rendering dominates a step: only the frames that are published are rendered.
        with_image = (self._env.state().step + 1) % self._image_every == 0
        result = self._env.step(self._target, render=with_image)
        observation = result.observation
        self._publish_observation(observation, with_image=with_image)
        for event in result.events:
            msg = TaskEvent(kind=event.kind, target_id=event.target_id, step=event.step)
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.position = Point(
                x=float(event.position[0]), y=float(event.position[1]), z=float(event.position[2])
            )
            self._event_pub.publish(msg)

    def _publish_observation(self, observation, *, with_image: bool) -> None:
        stamp = self.get_clock().now().to_msg()
        joints = JointState(
            name=self._joint_names,
            position=observation.joint_positions.tolist(),
            velocity=observation.joint_velocities.tolist(),
        )
        joints.header.stamp = stamp
        self._joint_pub.publish(joints)
        if with_image and observation.image is not None:
            image = Image(**rgb_to_image_fields(observation.image))
            image.header.stamp = stamp
            image.header.frame_id = self._frame_id
            self._image_pub.publish(image)

    def destroy_node(self) -> None:
        state = self._env.state()
        self.get_logger().info(
            f"targets shown {state.shown}, hit {state.hit}, missed {state.missed}"
        )
        self._env.close()
        super().destroy_node()


def main(args=None) -> None:
    run_node(SimArmNode, args)


if __name__ == "__main__":
    main()
