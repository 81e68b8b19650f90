"""Timer-driven executor node: owns the control-step clock and commands the arm every tick.

It runs alone on a single-threaded executor so no inference work can delay a tick. Each tick it
executes the action due at that step (:class:`~vlash_executor.chunk_executor.ChunkExecutor`),
publishes the joint command, and reports what it executed (``vlash_msgs/ExecutedActions``) so
the policy can roll the state forward with exact step arithmetic. Each report also carries the
executor's position and per-tick step limits: the policy's roll-forward replays them, so the
limits are configured here only.

The node is a managed (lifecycle) node, and its lifecycle is the operator's arm/disarm switch,
as with ros2_control's controllers: **active** = armed, commanding the arm; **inactive** =
disarmed, still ticking and reporting, publishing what it would command on
``~/intended_command`` but no command (``ros2 lifecycle set /executor activate`` arms it,
``deactivate`` disarms it and the arm holds its last command). It configures itself at start-up
and activates itself when ``start_armed`` is true (the simulation); a real arm's profile starts
disarmed. Whatever the state, nothing is commanded before ``joint_states`` gave a position.

A malformed chunk or joint state is refused, never executed: its kind is logged (each kind at
once, then at most every 2 s) and counted on ``/diagnostics`` with the chunks received and
accepted, the commands a limit changed, the re-seeds and the dropped actions.

Its spin thread, which runs every tick, asks for real-time scheduling and keeps the last CPU to
itself (:mod:`vlash_core.cpu_placement`); the start-up line says what the kernel granted.
"""

# No `from __future__ import annotations`: rclpy finds the TimerInfo argument of a timer
# callback by comparing the evaluated annotation with the class.

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.timer import TimerInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vlash_core.conversions import fill_executed_actions, fill_executor_limits, joint_positions
from vlash_core.cpu_placement import pin_to_control_cpu, request_realtime
from vlash_core.executor_report import ExecutorReport
from vlash_core.input_diagnostics import RefusedInputError, RepeatFilter
from vlash_core.node_diagnostics import NodeDiagnostics
from vlash_core.node_runner import run_node
from vlash_core.safety_limits import SafetyLimits
from vlash_core.strategies import get_strategy
from vlash_executor import command_output
from vlash_executor.chunk_executor import ChunkExecutor, HoldReason, TickResult, decode_chunk
from vlash_executor.executor_parameters import PARAMETERS
from vlash_executor.tick_timing import TickTiming
from vlash_msgs.msg import ActionChunk, ExecutedActions

# A repeated error (a policy stuck on one bad chunk) is logged once per this period, not every
# message; a lasting hold is recalled once per the longer one.
_REPEAT_LOG_PERIOD_S = 2.0
_HOLD_LOG_PERIOD_S = 10.0


class ExecutorNode(LifecycleNode):
    """Executes action chunks step-exactly and publishes joint commands at the control rate."""

    def __init__(self, *, node_name: str = "vlash_executor") -> None:
        super().__init__(node_name)
        p = {param.name: param.value for param in self.declare_parameters("", PARAMETERS)}
        scheduling = request_realtime(p["realtime_priority"])
        cpu = pin_to_control_cpu() if p["pin_to_control_cpu"] else None
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
        try:
            limits = SafetyLimits.from_velocity(
                lower=p["position_lower"],
                upper=p["position_upper"],
                max_velocity=p["max_joint_velocity"],
                control_period_s=self._period,
                joint_count=joints,
            )
        except ValueError as error:
            raise ValueError(
                f"parameters position_lower, position_upper, max_joint_velocity: {error}"
            ) from None
        self._core = ChunkExecutor(
            strategy=self._strategy,
            joint_count=joints,
            lower=limits.lower,
            upper=limits.upper,
            max_step_per_tick=limits.max_step,
            policy_timeout_steps=self._steps(p["policy_timeout_s"]),
            joint_state_timeout_steps=self._steps(p["joint_state_timeout_s"]),
            reseed_distance=p["reseed_distance_rad"],
            armed=False,
            max_lead_steps=self._steps(p["max_chunk_lead_s"]),
        )
        self._timing = TickTiming(period_s=self._period)
        self._resend_trajectory = False
        self._hold_reason: HoldReason | None = None
        self._repeats = RepeatFilter(_REPEAT_LOG_PERIOD_S)
        self._hold_repeats = RepeatFilter(_HOLD_LOG_PERIOD_S)

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._feedback_pub = self.create_publisher(ExecutedActions, "vlash/executed_actions", 50)
        self._intended_pub = self.create_publisher(JointState, "~/intended_command", reliable)
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
        self._diagnostics = NodeDiagnostics(self, extra=self._diagnostic_values)
        self.trigger_configure()
        if p["start_armed"]:
            self.trigger_activate()
        self.get_logger().info(
            f"executing {joints} joints at {1.0 / self._period:.1f} Hz, strategy "
            f"{self._strategy.name}, commands as {self._interface}, "
            + ("armed" if self._core.armed else "DISARMED (lifecycle activate arms it)")
            + f"; {scheduling.describe()}, "
            + ("on every CPU" if cpu is None else f"on CPU {cpu}")
        )

    def _steps(self, seconds: float) -> int:
        """A timeout in control steps: 0 stays 0 (disabled), any other at least one step."""
        return 0 if seconds == 0 else max(1, round(seconds / self._period))

    # --- lifecycle: the arm/disarm switch --------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        # Everything is set up from the parameters in the constructor; configuring only moves
        # the state machine to inactive (disarmed).
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._core.arm()
        self._resend_trajectory = True
        self.get_logger().info("armed: commanding from the measured position")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._core.disarm()
        self._stop_trajectory()
        self.get_logger().warning("disarmed: holding, commands stopped")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._core.armed:
            self._core.disarm()
            self._stop_trajectory()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self.on_shutdown(state)

    def _stop_trajectory(self) -> None:
        """Make a trajectory controller hold: an empty trajectory stops the one it runs."""
        if self._interface == "joint_trajectory":
            msg = JointTrajectory(joint_names=self._joint_names)
            msg.header.stamp = self.get_clock().now().to_msg()
            self._command_pub.publish(msg)
            self._resend_trajectory = True

    # --- inputs ----------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        self._diagnostics.received("JointState")
        try:
            position = joint_positions(msg.name, msg.position, self._joint_names)
        except RefusedInputError as error:
            self._diagnostics.refuse("JointState", error)
            return
        if self._core.set_measured_position(position):
            self._resend_trajectory = True
            if self._repeats.allow("reseed"):
                self.get_logger().error(
                    "re-seeded from the measured position, too far from the last command: "
                    f"{np.round(position, 3).tolist()}"
                )

    def _on_chunk(self, msg: ActionChunk) -> None:
        self._diagnostics.received("ActionChunk")
        try:
            chunk = decode_chunk(
                msg,
                joint_names=self._joint_names,
                strategy=self._strategy,
                control_period_s=self._period,
            )
            late = self._core.accept(chunk)
        except (ValueError, TypeError, OverflowError) as error:
            self._diagnostics.refuse("ActionChunk", error, label=str(msg.chunk_id))
            return
        self._diagnostics.add("accepted.ActionChunk")
        self._resend_trajectory = True
        if late:
            self.get_logger().warning(
                f"chunk {chunk.chunk_id} arrived at step {self._core.step}: dropped {late} late "
                f"actions (start_step {chunk.start_step})",
                throttle_duration_sec=2.0,
            )

    def _diagnostic_values(self) -> dict[str, str]:
        hold = self._hold_reason
        return {
            "armed": str(self._core.armed).lower(),
            "step": str(self._core.step),
            "holding": "no" if hold is None else hold.value,
            "reseeds": str(self._core.reseeds),
            "dropped_actions": str(self._core.dropped_actions),
            "passed_chunks": str(self._core.passed_chunks),
        }

    # --- the control tick ------------------------------------------------------------------
    def _on_tick(self, info: TimerInfo) -> None:
        lateness = self._timing.record(
            info.expected_call_time.nanoseconds, info.actual_call_time.nanoseconds
        )
        result = self._core.tick()
        if result.clamped:
            self._diagnostics.add("clamped_commands")
        now = self.get_clock().now().to_msg()
        self._report_hold(result.hold_reason)
        if result.command is not None:
            if result.hold_reason is HoldReason.DISARMED:
                self._intended_pub.publish(
                    command_output.joint_state(result.command, self._joint_names, now)
                )
            else:
                self._send(result, now)
        self._publish_feedback(self._core.report(result), now, lateness)

    def _send(self, result: TickResult, stamp) -> None:
        """Publish this tick's command in the configured form."""
        if self._interface == "forward_position":
            self._command_pub.publish(command_output.forward_position(result.command))
        elif self._interface == "joint_state":
            self._command_pub.publish(
                command_output.joint_state(result.command, self._joint_names, stamp)
            )
        elif self._resend_trajectory and not result.holding:
            points = np.vstack([result.command, self._core.preview(self._core.steps_left())])
            self._command_pub.publish(
                command_output.joint_trajectory(points, self._joint_names, self._period, stamp)
            )
            self._resend_trajectory = False

    def _report_hold(self, reason: HoldReason | None) -> None:
        """Say why the executor holds: at once when it starts, then every 10 s while it lasts.

        A hold for want of an action due (between sync chunks, before a chunk's start step) is
        routine and not logged. Entering a stale-input hold also stops a running trajectory.
        """
        previous, self._hold_reason = self._hold_reason, reason
        if reason is HoldReason.STALE_POSITION and previous is not reason:
            self._stop_trajectory()
        if reason is None or reason is HoldReason.NO_ACTION:
            if previous is not None and previous.is_safety_hold:
                self.get_logger().info(f"resumed after holding: {previous.value}")
            return
        if self._hold_repeats.allow(reason.name):
            text = f"holding: {reason.value}"
            if reason is HoldReason.DISARMED:
                self.get_logger().info(f"{text}; publishing only ~/intended_command")
            else:
                self.get_logger().warning(text)

    def _publish_feedback(self, report: ExecutorReport, stamp, lateness: float) -> None:
        msg = ExecutedActions(
            dropped_actions=self._core.dropped_actions,
            tick_lateness=lateness,
            control_period=self._period,
        )
        msg.header.stamp = stamp
        fill_executed_actions(msg, report, self._joint_names)
        fill_executor_limits(msg, self._core.limits)
        self._feedback_pub.publish(msg)

    def destroy_node(self) -> None:
        summary = self._timing.summary()
        if summary["ticks"]:
            self.get_logger().info(
                f"{summary['ticks']} ticks, lateness p50 {summary['p50_ms']:.2f} ms, p99 "
                f"{summary['p99_ms']:.2f} ms, max {summary['max_ms']:.2f} ms, missed "
                f"{summary['missed_ticks']}, dropped actions {self._core.dropped_actions}, "
                f"re-seeds {self._core.reseeds}"
            )
        super().destroy_node()


def main(args=None) -> None:
    run_node(ExecutorNode, args)


if __name__ == "__main__":
    main()
