"""Timer-driven executor node: owns the control-step clock and commands the arm every tick.

It runs alone on a single-threaded executor so no inference work can delay a tick. Each tick it
executes the action due at that step (:class:`~vlash_executor.chunk_executor.ChunkExecutor`),
publishes the joint command, and reports what it executed (``vlash_msgs/ExecutedActions``) so
the policy can roll the state forward with exact step arithmetic.
"""

# No `from __future__ import annotations`: rclpy finds the TimerInfo argument of a timer
# callback by comparing the evaluated annotation with the class.

import time

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.timer import TimerInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vlash_executor import command_output
from vlash_executor.chunk_executor import ChunkExecutor, IncomingChunk
from vlash_executor.tick_timing import TickTiming
from vlash_msgs.msg import ActionChunk, ExecutedActions
from vlash_policy.action_space import parse_action_space
from vlash_policy.conversions import chunk_actions_array
from vlash_policy.node_runner import parameter_descriptor, run_node
from vlash_policy.so101 import SO101_JOINT_NAMES
from vlash_policy.strategies import STRATEGY_NAMES, get_strategy

# A policy stuck on one bad chunk logs its rejection once per this period, not every chunk.
_REPEAT_LOG_PERIOD_S = 2.0


class ExecutorNode(Node):
    """Executes action chunks step-exactly and publishes joint commands at the control rate."""

    def __init__(self, *, node_name: str = "vlash_executor") -> None:
        super().__init__(node_name)
        p = self._declare_parameters()
        self._joint_names = p["joint_names"]
        self._period = 1.0 / p["control_rate_hz"]
        self._strategy = get_strategy(p["strategy"])
        self._interface = p["command_interface"]
        if self._interface not in command_output.COMMAND_INTERFACES:
            raise ValueError(
                f"parameter command_interface={self._interface!r} is not one of "
                f"{', '.join(command_output.COMMAND_INTERFACES)}"
            )
        joints = len(self._joint_names)
        self._core = ChunkExecutor(
            strategy=self._strategy,
            joint_count=joints,
            lower=_per_joint(p["position_lower"], joints, "position_lower"),
            upper=_per_joint(p["position_upper"], joints, "position_upper"),
            max_step_per_tick=_per_joint(p["max_joint_velocity"], joints, "max_joint_velocity")
            * self._period,
            policy_timeout_steps=round(p["policy_timeout_s"] / self._period),
        )
        self._timing = TickTiming(period_s=self._period)
        self._pending: list[tuple[int, int, int, np.ndarray]] = []
        self._resend_trajectory = False
        # (reason, monotonic time) of the last rejection logged: see _log_rejection.
        self._last_rejection: tuple[str, float] | None = None

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._feedback_pub = self.create_publisher(ExecutedActions, "vlash/executed_actions", 50)
        if self._interface == "forward_position":
            self._command_pub = self.create_publisher(
                Float64MultiArray, "forward_position_controller/commands", reliable
            )
        elif self._interface == "joint_trajectory":
            self._command_pub = self.create_publisher(
                JointTrajectory, "joint_trajectory_controller/joint_trajectory", reliable
            )
        else:
            self._command_pub = self.create_publisher(JointState, "joint_command", reliable)
        self.create_subscription(ActionChunk, "vlash/action_chunk", self._on_chunk, reliable)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, 10)
        self._timer = self.create_timer(self._period, self._on_tick)
        self.get_logger().info(
            f"executing {joints} joints at {1.0 / self._period:.1f} Hz, strategy "
            f"{self._strategy.name}, commands as {self._interface}"
        )

    def _declare_parameters(self) -> dict:
        declared = self.declare_parameters(
            "",
            [
                (
                    "joint_names",
                    list(SO101_JOINT_NAMES),
                    parameter_descriptor("Commanded joints, in action order."),
                ),
                (
                    "control_rate_hz",
                    30.0,
                    parameter_descriptor("Control steps per second.", floats=(1.0, 1000.0)),
                ),
                (
                    "strategy",
                    "vlash",
                    parameter_descriptor(f"Chunk switching strategy: {', '.join(STRATEGY_NAMES)}."),
                ),
                (
                    "position_lower",
                    [-3.2] * 6,
                    parameter_descriptor("Joint position lower limits (rad), one per joint."),
                ),
                (
                    "position_upper",
                    [3.2] * 6,
                    parameter_descriptor("Joint position upper limits (rad), one per joint."),
                ),
                (
                    "max_joint_velocity",
                    [3.0] * 6,
                    parameter_descriptor("Largest commanded joint speed (rad/s), one per joint."),
                ),
                (
                    "policy_timeout_s",
                    1.0,
                    parameter_descriptor(
                        "Hold when no chunk arrived for this long (0 disables).",
                        floats=(0.0, 3600.0),
                    ),
                ),
                (
                    "command_interface",
                    "forward_position",
                    parameter_descriptor(
                        "Command form: forward_position (Float64MultiArray every tick), "
                        "joint_trajectory (timed JointTrajectory on chunk switch) or "
                        "joint_state (JointState every tick)."
                    ),
                ),
            ],
        )
        return {p.name: p.value for p in declared}

    def _on_joint_state(self, msg: JointState) -> None:
        index = {name: i for i, name in enumerate(msg.name)}
        missing = [n for n in self._joint_names if n not in index]
        if missing or len(msg.position) != len(msg.name):
            self.get_logger().error(
                f"joint_states lacks joints {missing} or has {len(msg.position)} positions for "
                f"{len(msg.name)} names",
                throttle_duration_sec=5.0,
            )
            return
        self._core.set_measured_position([msg.position[index[n]] for n in self._joint_names])

    def _on_chunk(self, msg: ActionChunk) -> None:
        try:
            chunk = self._decode(msg)
            late = self._core.accept(chunk)
        except ValueError as error:
            self._log_rejection(msg.chunk_id, str(error))
            return
        self._resend_trajectory = True
        if late:
            self.get_logger().warn(
                f"chunk {chunk.chunk_id} arrived at step {self._core.step}: dropped {late} late "
                f"actions (start_step {chunk.start_step})",
                throttle_duration_sec=2.0,
            )

    def _log_rejection(self, chunk_id: int, reason: str) -> None:
        """Log why a chunk was rejected; the same reason again is logged at most every 2 s.

        rclpy's throttle is per call site, so a different reason right after one would be
        swallowed and the operator would never learn which field the next chunk broke.
        """
        now = time.monotonic()
        if self._last_rejection is not None:
            last_reason, logged_at = self._last_rejection
            if reason == last_reason and now - logged_at < _REPEAT_LOG_PERIOD_S:
                return
        self._last_rejection = (reason, now)
        self.get_logger().error(f"rejected chunk {chunk_id}: {reason}")

    def _decode(self, msg: ActionChunk) -> IncomingChunk:
        if list(msg.joint_names) != self._joint_names:
            raise ValueError(
                f"ActionChunk.joint_names {list(msg.joint_names)} differ from the executor's "
                f"joint_names {self._joint_names}"
            )
        if msg.strategy and msg.strategy != self._strategy.name:
            raise ValueError(
                f"ActionChunk.strategy {msg.strategy!r} differs from the executor's strategy "
                f"{self._strategy.name!r}"
            )
        if msg.quantization < 1:
            raise ValueError(f"ActionChunk.quantization must be >= 1, got {msg.quantization}")
        return IncomingChunk(
            chunk_id=msg.chunk_id,
            start_step=msg.start_step,
            source_step=msg.source_step,
            actions=chunk_actions_array(msg),
            action_space=parse_action_space(msg.action_space),
            quantization=msg.quantization,
            execution_horizon=msg.execution_horizon,
        )

    def _on_tick(self, info: TimerInfo) -> None:
        lateness = self._timing.record(
            info.expected_call_time.nanoseconds, info.actual_call_time.nanoseconds
        )
        result = self._core.tick()
        now = self.get_clock().now().to_msg()
        if not np.all(np.isfinite(result.command)):
            self._publish_feedback(result.step, now, lateness, holding=True)
            return
        if self._interface == "forward_position":
            self._command_pub.publish(command_output.forward_position(result.command))
        elif self._interface == "joint_state":
            self._command_pub.publish(
                command_output.joint_state(result.command, self._joint_names, now)
            )
        elif self._resend_trajectory and not result.holding:
            points = np.vstack([result.command, self._core.preview(self._core.steps_left())])
            self._command_pub.publish(
                command_output.joint_trajectory(points, self._joint_names, self._period, now)
            )
            self._resend_trajectory = False
        if not result.holding:
            self._pending.append((result.step, result.chunk_id, result.micro_index, result.command))
        self._publish_feedback(result.step, now, lateness, holding=result.holding)

    def _publish_feedback(self, step: int, stamp, lateness: float, *, holding: bool) -> None:
        msg = ExecutedActions(
            step=step,
            joint_names=self._joint_names,
            holding=holding,
            dropped_actions=self._core.dropped_actions,
            running_chunk_id=-1
            if self._core.running_chunk_id is None
            else self._core.running_chunk_id,
            steps_left=self._core.steps_left(),
            tick_lateness=lateness,
            control_period=self._period,
        )
        msg.header.stamp = stamp
        for entry_step, chunk_id, micro, command in self._pending:
            msg.steps.append(entry_step)
            msg.chunk_ids.append(chunk_id)
            msg.indices.append(micro)
            msg.commanded_positions.extend(float(x) for x in command)
        self._pending.clear()
        self._feedback_pub.publish(msg)

    def destroy_node(self) -> None:
        summary = self._timing.summary()
        if summary["ticks"]:
            self.get_logger().info(
                f"{summary['ticks']} ticks, lateness p50 {summary['p50_ms']:.2f} ms, p99 "
                f"{summary['p99_ms']:.2f} ms, max {summary['max_ms']:.2f} ms, missed "
                f"{summary['missed_ticks']}, dropped actions {self._core.dropped_actions}"
            )
        super().destroy_node()


def _per_joint(values, joints: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (joints,):
        raise ValueError(f"parameter {name} needs {joints} values (one per joint), got {values}")
    return array


def main(args=None) -> None:
    run_node(ExecutorNode, args)


if __name__ == "__main__":
    main()
