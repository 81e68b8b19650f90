"""Policy node: future-state-aware asynchronous inference of action chunks (VLASH).

Callbacks only buffer observations and hand the executor's reports to the
:class:`~vlash_policy.inference_loop.InferenceLoop`, which decides when to infer, maps the newest
observation to the step it precedes and rolls the state forward through the executor's own
limits (every report carries them); the model (:mod:`vlash_policy.policy_backends`) runs in a
worker thread, and the chunk goes out with the exact step its first action is due.

Faults it survives: a malformed image, joint state or report is refused, logged (throttled) and
counted on ``/diagnostics``; it never infers from an observation older than
``max_observation_age_s``; a restarted executor gets a fresh clock and a chunk inferred for the
old one is dropped. It warns while Δ·q exceeds the checkpoint's trained Δmax. Its threads stay
off the executor's CPU (:mod:`vlash_core.cpu_placement`), with one torch thread per CPU left.
"""

import os
import queue
import threading
from dataclasses import dataclass

import torch
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState

from vlash_core.conversions import (
    executor_limits,
    executor_report,
    joint_positions,
)
from vlash_core.cpu_placement import avoid_control_cpu
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.node_diagnostics import NodeDiagnostics
from vlash_core.node_runner import run_node
from vlash_core.stamps import seconds_to_sec_nanosec, stamp_seconds
from vlash_core.strategies import SwitchingStrategy, get_strategy
from vlash_msgs.msg import ActionChunk, ExecutedActions, RolledState
from vlash_policy.embedded import default_checkpoint_dir
from vlash_policy.image_conversion import compressed_to_rgb, image_to_rgb, try_cv_bridge
from vlash_policy.inference_loop import InferenceLoop, LoopSettings, OutgoingChunk, Ticket
from vlash_policy.observation_sync import Observation, ObservationSynchronizer
from vlash_policy.policy_backends import LoadedPolicy, load_policy
from vlash_policy.policy_messages import action_chunk_message, rolled_state_message
from vlash_policy.policy_parameters import PARAMETERS
from vlash_policy.trained_offset import offset_beyond_training, trained_max_offset

# The Δ·q > Δmax warning is repeated at most this often while it lasts.
_OFFSET_WARNING_PERIOD_S = 30.0
# A lasting condition (stale observations, ...) is recalled at most this often.
_CONDITION_LOG_PERIOD_S = 5.0


@dataclass
class _Job:
    ticket: Ticket
    observation: Observation
    control_period: float


class PolicyNode(Node):
    """Subscribes to cameras, joint states and executor feedback; publishes action chunks."""

    def __init__(self, *, node_name: str = "vlash_policy") -> None:
        super().__init__(node_name)
        p = {param.name: param.value for param in self.declare_parameters("", PARAMETERS)}
        strategy = get_strategy(p["strategy"])
        if p["delay_mode"] not in ("measured", "fixed"):
            raise ValueError(
                f"parameter delay_mode={p['delay_mode']!r} must be 'measured' or 'fixed'"
            )
        self._params = p
        # Before the model and the worker exist, so torch's thread pool starts on these CPUs.
        cpus = avoid_control_cpu() if p["avoid_control_cpu"] else os.sched_getaffinity(0)
        torch.set_num_threads(p["torch_threads"] or len(cpus))
        if p["backend"] == "lerobot" and not p["model_path"]:
            raise ValueError("parameter model_path must name the LeRobot checkpoint directory")
        model_path = p["model_path"] or str(default_checkpoint_dir())
        loaded = load_policy(
            p["backend"],
            model_path,
            device=p["device"],
            seed=p["seed"],
            refine=p["refine"],
            refine_threshold=p["refine_threshold"],
            torch_threads=torch.get_num_threads(),
            lerobot_joint_names=p["lerobot_joint_names"],
            lerobot_cameras=p["lerobot_cameras"],
            lerobot_python=p["lerobot_python"],
        )
        self._policy = loaded.policy
        self._joint_names = list(loaded.joint_names)
        self._loop = InferenceLoop(self._loop_settings(p, strategy, loaded))
        self._cameras = list(loaded.camera_names)
        topics = list(p["image_topics"])
        if len(topics) != len(self._cameras):
            raise ValueError(
                f"parameter image_topics has {len(topics)} topics but the model expects "
                f"{len(self._cameras)} cameras {self._cameras}"
            )
        self._sync = ObservationSynchronizer(
            camera_names=self._cameras, tolerance_s=p["sync_tolerance_s"]
        )
        self._trained_offset = trained_max_offset(model_path)
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=1)
        self._bridge = try_cv_bridge(Image)
        self._diagnostics = NodeDiagnostics(self, extra=self._diagnostic_values)

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._chunk_pub = self.create_publisher(ActionChunk, "vlash/action_chunk", reliable)
        self._rolled_pub = self.create_publisher(RolledState, "vlash/rolled_state", reliable)
        image_type = CompressedImage if p["compressed_images"] else Image
        for camera, topic in zip(self._cameras, topics, strict=True):
            self.create_subscription(
                image_type, topic, lambda msg, c=camera: self._on_image(c, msg), 5
            )
        self.create_subscription(JointState, "joint_states", self._on_joint_state, 20)
        self.create_subscription(ExecutedActions, "vlash/executed_actions", self._on_feedback, 50)
        self._worker = threading.Thread(target=self._work, name="vlash_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"policy {model_path}: strategy {p['strategy']}, cameras {self._cameras}, "
            f"Δ {p['delay_mode']}, refine {p['refine']}, q {p['quantization']}; CPUs "
            f"{sorted(cpus)}, {torch.get_num_threads()} torch threads; trained Δmax "
            f"{self._trained_offset.max_offset} micro-steps ({self._trained_offset.source})"
        )

    @staticmethod
    def _loop_settings(p: dict, strategy: SwitchingStrategy, loaded: LoadedPolicy) -> LoopSettings:
        try:
            return LoopSettings(
                strategy=strategy,
                action_space=loaded.action_space,
                joint_count=len(loaded.joint_names),
                horizon=loaded.horizon,
                quantization=p["quantization"],
                execution_horizon=p["execution_horizon"] or None,
                trigger_margin_steps=p["trigger_margin_steps"],
                fixed_delay_steps=p["fixed_delay_steps"],
                measure_delay=p["delay_mode"] == "measured",
                delay_percentile=p["delay_percentile"],
                delay_margin_steps=p["delay_margin_steps"],
            )
        except ValueError as error:
            raise ValueError(f"parameter {error}") from None

    def _diagnostic_values(self) -> dict[str, str]:
        step = self._loop.latest_step
        return {
            "executor_clocks": str(self._loop.epoch),
            "executor_step": "none" if step is None else str(step),
        }

    # --- callbacks: buffer and decide, never infer ------------------------------------------
    def _on_image(self, camera: str, msg) -> None:
        source = type(msg).__name__
        self._diagnostics.received(source)
        try:
            if isinstance(msg, CompressedImage):
                rgb = compressed_to_rgb(msg.format, bytes(msg.data))
            elif self._bridge is not None:
                rgb = self._bridge(msg)
            else:
                rgb = image_to_rgb(msg)
        except (ValueError, TypeError) as error:
            self._diagnostics.refuse(source, error, label=f"of camera {camera}")
            return
        self._sync.add_image(camera, stamp_seconds(msg.header.stamp), rgb)

    def _on_joint_state(self, msg: JointState) -> None:
        self._diagnostics.received("JointState")
        try:
            positions = joint_positions(msg.name, msg.position, self._joint_names)
        except RefusedInputError as error:
            self._diagnostics.refuse("JointState", error)
            return
        self._sync.add_joint_state(stamp_seconds(msg.header.stamp), positions)

    def _on_feedback(self, msg: ExecutedActions) -> None:
        self._diagnostics.received("ExecutedActions")
        try:
            if list(msg.joint_names) != self._joint_names:
                raise RefusedInputError(
                    "joint_names",
                    f"ExecutedActions.joint_names {list(msg.joint_names)} differ from the "
                    f"model's {self._joint_names}",
                )
            report, limits = executor_report(msg), executor_limits(msg)
        except ValueError as error:
            self._diagnostics.refuse("ExecutedActions", error)
            return
        outcome = self._loop.on_report(
            report,
            stamp_s=stamp_seconds(msg.header.stamp),
            control_period_s=msg.control_period,
            limits=limits,
        )
        if outcome.restarted_from_step is not None:
            self._diagnostics.add("executor_restarts")
            self.get_logger().warning(
                f"executor step went back from {outcome.restarted_from_step} to {msg.step}: it "
                "restarted; re-synchronising on its new clock"
            )
        if outcome.limits_changed:
            self.get_logger().info(
                "rolling forward with the executor's limits: position "
                f"{limits.lower.round(4).tolist()} .. {limits.upper.round(4).tolist()} rad, "
                f"step <= {limits.max_step.round(4).tolist()} rad per tick"
            )
        if self._loop.wants_inference():
            self._start_inference(msg.control_period)

    def _start_inference(self, control_period: float) -> None:
        """Start an inference from the newest observation the executor's clock can place.

        Not from one whose source step a sent chunk already came from: at a camera slower than
        the model, inferring again would only repeat that chunk and take the simulator's core.
        """
        latest_tick = self._loop.latest_stamp
        observation = self._sync.latest(not_after_s=latest_tick)
        if observation is None or latest_tick is None:
            return
        limit = self._params["max_observation_age_s"]
        if limit and (age := latest_tick - observation.stamp_s) > limit:
            self._diagnostics.add("stale_observations")
            self.get_logger().warning(
                f"not inferring: the newest observation is {age:.2f} s older than the executor's "
                f"latest tick (max_observation_age_s {limit}); camera or joint states stopped?",
                throttle_duration_sec=_CONDITION_LOG_PERIOD_S,
            )
            return
        source_step = self._loop.source_step(observation.stamp_s)
        if source_step is None or self._loop.has_chunk_from(source_step):
            return
        ticket = self._loop.start(source_step, observation.state)
        self._check_offset(ticket.request.delay_steps)
        try:
            self._jobs.put_nowait(_Job(ticket, observation, control_period))
        except queue.Full:  # the worker still holds a job of an earlier executor clock
            self._loop.fail(ticket)

    def _check_offset(self, delay_steps: int) -> None:
        """Warn (throttled) while Δ·q exceeds the trained Δmax, for a strategy that rolls forward.

        Only a strategy conditioned on the rolled state uses the offsets training taught.
        """
        settings = self._loop.settings
        if not settings.strategy.conditions_on_rolled_state:
            return
        reason = offset_beyond_training(delay_steps, settings.quantization, self._trained_offset)
        if reason is not None:
            self.get_logger().warning(reason, throttle_duration_sec=_OFFSET_WARNING_PERIOD_S)

    # --- worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._infer(job)
            # A failed inference is logged; the node keeps serving the next observation.
            except Exception as error:
                self._loop.fail(job.ticket)
                self.get_logger().error(f"inference failed: {error!r}", throttle_duration_sec=2.0)

    def _infer(self, job: _Job) -> None:
        request, settings = job.ticket.request, self._loop.settings
        result = self._policy.predict_chunk(
            job.observation.images,
            self._params["instruction"],
            request.conditioning_state,
            previous_chunk=request.previous_chunk,
            strategy=settings.strategy.name,
            delay_steps=request.delay_steps,
            execution_horizon=settings.execution_horizon,
        )
        origin = job.ticket.latency_origin_s(job.observation.stamp_s)
        latency = self.get_clock().now().nanoseconds * 1e-9 - origin
        sec, nanosec = seconds_to_sec_nanosec(job.observation.stamp_s)
        stamp = Time(sec=sec, nanosec=nanosec)

        def publish(chunk: OutgoingChunk) -> None:
            self._chunk_pub.publish(
                action_chunk_message(
                    chunk, result, settings, self._joint_names, job.control_period, stamp
                )
            )

        if self._loop.deliver(job.ticket, result.actions, latency, send=publish) is None:
            self._diagnostics.add("chunks_dropped_after_executor_restart")
            self.get_logger().warning(
                f"dropped the chunk for steps {request.start_step}.. of the previous executor clock"
            )
            return
        self._diagnostics.add("chunks_published")
        self._rolled_pub.publish(rolled_state_message(request, self._joint_names, stamp))

    def destroy_node(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=5.0)
        if hasattr(self._policy, "close"):  # a backend with a process of its own
            self._policy.close()
        super().destroy_node()


def main(args=None) -> None:
    run_node(PolicyNode, args, event_driven=True)


if __name__ == "__main__":
    main()
