"""Policy node: future-state-aware asynchronous inference of action chunks (VLASH).

ROS callbacks only buffer observations and absorb the executor's step reports; the model runs in
a worker thread of this node, so a slow inference never delays a callback (and the executor runs
in its own process). Each executor report may start an inference: the strategy decides, the
:class:`~vlash_policy.inference_planner.InferencePlanner` maps the newest observation to the
executor step it precedes, rolls the state forward over the actions that execute meanwhile, and
the chunk is published with the exact step its first action is due.

The executor is the one source of its limits: every report carries its position and per-tick
step limits, which the planner's roll-forward applies, so the policy has no limit parameters.
When the measured Δ in micro-steps (Δ·q) exceeds the Δmax the checkpoint was trained with
(:mod:`vlash_policy.trained_offset`), the node warns, naming both.

Faults it survives: a malformed image or joint state is refused, logged (each kind at most every
2 s) and counted on ``/diagnostics``; it never infers from an observation older than
``max_observation_age_s`` (a camera that stopped), and an executor whose step counter went back
(restarted) gets a fresh planner: a chunk still being inferred for the old clock is dropped, so
no chunk is ever published for steps of a previous executor.

Every thread of the node stays off the executor's control CPU (:mod:`vlash_core.cpu_placement`)
and torch runs one intra-op thread per CPU left, so inference neither delays a control tick nor
competes with itself for a core.
"""

import os
import queue
import threading
from dataclasses import dataclass

import numpy as np
import torch
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState

from vlash_core.action_space import parse_action_space
from vlash_core.conversions import (
    executed_actions_arrays,
    executor_command_in_force,
    executor_limits,
    fill_chunk_actions,
    joint_positions,
)
from vlash_core.cpu_placement import avoid_control_cpu
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.node_diagnostics import NodeDiagnostics
from vlash_core.node_runner import AVOID_CONTROL_CPU, parameter_descriptor, run_node
from vlash_core.stamps import stamp_seconds
from vlash_core.strategies import STRATEGY_NAMES, get_strategy
from vlash_msgs.msg import ActionChunk, ExecutedActions, RolledState
from vlash_policy.embedded import default_checkpoint_dir
from vlash_policy.image_conversion import compressed_to_rgb, image_to_rgb, try_cv_bridge
from vlash_policy.inference_planner import ExecutorReport, InferencePlanner, InferenceRequest
from vlash_policy.observation_sync import Observation, ObservationSynchronizer
from vlash_policy.policy_interface import FlowVLAPolicy
from vlash_policy.timeline import DelayEstimator
from vlash_policy.trained_offset import offset_beyond_training, trained_max_offset

# The Δ·q > Δmax warning is repeated at most this often while it lasts.
_OFFSET_WARNING_PERIOD_S = 30.0
# A lasting condition (stale observations, ...) is recalled at most this often.
_CONDITION_LOG_PERIOD_S = 5.0

PARAMETERS = [
    (
        "model_path",
        "",
        parameter_descriptor("Checkpoint directory of the VLA; empty = the embedded sim default."),
    ),
    (
        "instruction",
        "touch the red target",
        parameter_descriptor("Language instruction for the VLA."),
    ),
    (
        "image_topics",
        ["camera/image_raw"],
        parameter_descriptor("Camera topics, in the model's camera order."),
    ),
    ("compressed_images", False, parameter_descriptor("Subscribe to sensor_msgs/CompressedImage.")),
    ("strategy", "vlash", parameter_descriptor(f"Chunk strategy: {', '.join(STRATEGY_NAMES)}.")),
    ("delay_mode", "measured", parameter_descriptor("Inference delay Δ: measured or fixed.")),
    ("fixed_delay_steps", 2, parameter_descriptor("Δ when delay_mode is fixed.", ints=(0, 1000))),
    (
        "delay_percentile",
        95.0,
        parameter_descriptor("Latency percentile that sets a measured Δ.", floats=(0.0, 100.0)),
    ),
    ("delay_margin_steps", 1, parameter_descriptor("Steps added to a measured Δ.", ints=(0, 1000))),
    (
        "trigger_margin_steps",
        1,
        parameter_descriptor("Start inferring when steps left reach Δ plus this.", ints=(0, 1000)),
    ),
    (
        "execution_horizon",
        0,
        parameter_descriptor(
            "K: actions executed per chunk before the next is due (0 = the whole chunk).",
            ints=(0, 10000),
        ),
    ),
    (
        "refine",
        True,
        parameter_descriptor("Run the confidence rater and AFM after SFM (AsyncVLA)."),
    ),
    (
        "refine_threshold",
        0.5,
        parameter_descriptor(
            "Rater confidence below which an action is regenerated.", floats=(0.01, 0.99)
        ),
    ),
    (
        "quantization",
        1,
        parameter_descriptor(
            "Action quantization q: micro-actions merged per step.", ints=(1, 100)
        ),
    ),
    ("device", "cpu", parameter_descriptor("Torch device of the model.")),
    AVOID_CONTROL_CPU,
    (
        "torch_threads",
        0,
        parameter_descriptor(
            "Torch intra-op threads (0 = one per CPU this process may use).", ints=(0, 1024)
        ),
    ),
    ("seed", 0, parameter_descriptor("Seed of the flow-matching noise.", ints=(0, 2**31 - 1))),
    (
        "sync_tolerance_s",
        0.05,
        parameter_descriptor(
            "Largest stamp gap when pairing images and joint states.", floats=(0.0, 10.0)
        ),
    ),
    (
        "max_observation_age_s",
        1.0,
        parameter_descriptor(
            "Never infer from an observation older than this, measured against the executor's "
            "latest tick (a camera or joint states that stopped; 0 disables).",
            floats=(0.0, 60.0),
        ),
    ),
]


@dataclass
class _Job:
    request: InferenceRequest
    observation: Observation
    control_period: float
    epoch: int
    """The planner (executor clock) it was planned on; a newer one drops the result."""


class PolicyNode(Node):
    """Subscribes to cameras, joint states and executor feedback; publishes action chunks."""

    def __init__(self, *, node_name: str = "vlash_policy") -> None:
        super().__init__(node_name)
        p = {param.name: param.value for param in self.declare_parameters("", PARAMETERS)}
        self._strategy = get_strategy(p["strategy"])
        if p["delay_mode"] not in ("measured", "fixed"):
            raise ValueError(
                f"parameter delay_mode={p['delay_mode']!r} must be 'measured' or 'fixed'"
            )
        self._params = p
        # Before the model and the worker exist, so torch's thread pool starts on these CPUs.
        cpus = avoid_control_cpu() if p["avoid_control_cpu"] else os.sched_getaffinity(0)
        torch.set_num_threads(p["torch_threads"] or len(cpus))
        model_path = p["model_path"] or str(default_checkpoint_dir())
        self._policy = FlowVLAPolicy(
            model_path,
            device=p["device"],
            refine=p["refine"],
            threshold=p["refine_threshold"],
            seed=p["seed"],
        )
        config = self._policy.config
        self._check_against_horizon(p, config.horizon)
        self._joint_names = list(config.joint_names)
        self._action_space = parse_action_space(config.action_space)
        self._cameras = list(config.camera_names)
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
        self._planner: InferencePlanner | None = None
        self._epoch = 0
        """Planners built so far: one per executor clock (a restarted executor counts anew)."""
        # The planner is shared by the callbacks and the inference worker.
        self._planner_lock = threading.Lock()
        self._limits_key: tuple[list[float], ...] | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=1)
        self._next_chunk_id = 1
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
            f"policy {model_path}: strategy {self._strategy.name}, cameras {self._cameras}, "
            f"Δ {p['delay_mode']}, refine {p['refine']}, q {p['quantization']}; CPUs "
            f"{sorted(cpus)}, {torch.get_num_threads()} torch threads"
        )
        if self._trained_offset.max_offset is None:
            self.get_logger().warning(
                f"the Δmax this checkpoint was trained with is unknown "
                f"({self._trained_offset.source}): Δ·q is not checked against it"
            )
        else:
            self.get_logger().info(
                f"checkpoint trained with Δmax = {self._trained_offset.max_offset} micro-steps "
                f"({self._trained_offset.source})"
            )

    @staticmethod
    def _check_against_horizon(p: dict, horizon: int) -> None:
        """Refuse step parameters the checkpoint's chunk length makes meaningless."""
        for name in ("fixed_delay_steps", "execution_horizon", "quantization"):
            low = 1 if name == "quantization" else 0
            if not low <= p[name] <= horizon:
                raise ValueError(
                    f"parameter {name}={p[name]} must be in [{low}, {horizon}]: the checkpoint's "
                    f"chunks have horizon {horizon}"
                )

    def _diagnostic_values(self) -> dict[str, str]:
        planner = self._planner
        step = None if planner is None else planner.latest_step
        return {
            "executor_clocks": str(self._epoch),
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
        if list(msg.joint_names) != self._joint_names:
            self._diagnostics.refuse(
                "ExecutedActions",
                RefusedInputError(
                    "joint_names",
                    f"ExecutedActions.joint_names {list(msg.joint_names)} differ from the "
                    f"model's {self._joint_names}",
                ),
            )
            return
        with self._planner_lock:
            job = self._absorb(msg)
            if job is not None:
                try:
                    self._jobs.put_nowait(job)
                except queue.Full:  # the worker still holds a job of an earlier planner
                    self._planner.mark_finished(None)

    def _absorb(self, msg: ExecutedActions) -> _Job | None:
        """Feed one report to the planner; the inference job it starts, if any (under the lock)."""
        try:
            planner = self._planner_for(msg)
            arrays = executed_actions_arrays(msg)
            held = executor_command_in_force(msg)
        except ValueError as error:
            self._diagnostics.refuse("ExecutedActions", error)
            return None
        report = ExecutorReport(
            step=msg.step,
            steps=arrays.steps.tolist(),
            chunk_ids=arrays.chunk_ids.tolist(),
            indices=arrays.indices.tolist(),
            commands=arrays.commanded,
            holding=msg.holding,
            steps_left=msg.steps_left,
            running_chunk_id=msg.running_chunk_id,
            command_in_force=held,
        )
        planner.on_feedback(report, stamp_seconds(msg.header.stamp))
        if not planner.should_start_inference():
            return None
        observation = self._sync.latest(not_after_s=planner.clock.latest_stamp)
        if observation is None:
            return None
        age = planner.clock.latest_stamp - observation.stamp_s
        limit = self._params["max_observation_age_s"]
        if limit and age > limit:
            self._diagnostics.add("stale_observations")
            self.get_logger().warning(
                f"not inferring: the newest observation is {age:.2f} s older than the executor's "
                f"latest tick (max_observation_age_s {limit}); camera or joint states stopped?",
                throttle_duration_sec=_CONDITION_LOG_PERIOD_S,
            )
            return None
        source_step = planner.clock.source_step(observation.stamp_s)
        if source_step is None:
            return None
        request = planner.plan(source_step=source_step, measured_state=observation.state)
        self._check_offset(request.delay_steps)
        planner.mark_started()
        return _Job(request, observation, msg.control_period, self._epoch)

    def _planner_for(self, msg: ExecutedActions) -> InferencePlanner:
        """The planner of the executor's clock, rolling forward with the reported limits.

        A planner is built at the first report, with its ``control_period`` as the step time,
        and again when the step counter goes back (the executor restarted): everything the old
        one knew is in steps of the old clock. The limits come from every report, re-applied
        when they change. Raises ``ValueError`` (and changes nothing) when the report's limits
        are missing or invalid.
        """
        key = (
            list(msg.position_lower),
            list(msg.position_upper),
            list(msg.max_step_per_tick),
        )
        limits = executor_limits(msg) if key != self._limits_key else None
        restarted = (
            self._planner is not None
            and self._planner.latest_step is not None
            and msg.step < self._planner.latest_step
        )
        if self._planner is None or restarted:
            planner = self._new_planner(msg.control_period)
            planner.limits = limits if limits is not None else self._planner.limits
            if restarted:
                self._diagnostics.add("executor_restarts")
                self.get_logger().warning(
                    f"executor step went back from {self._planner.latest_step} to {msg.step}: "
                    "it restarted; re-synchronising on its new clock"
                )
            self._planner, self._epoch = planner, self._epoch + 1
        elif limits is not None:
            self._planner.limits = limits
        if limits is not None:
            self._limits_key = key
            self.get_logger().info(
                "rolling forward with the executor's limits: position "
                f"{np.round(limits.lower, 4).tolist()} .. {np.round(limits.upper, 4).tolist()} "
                f"rad, step <= {np.round(limits.max_step, 4).tolist()} rad per tick"
            )
        assert self._planner is not None
        return self._planner

    def _new_planner(self, control_period: float) -> InferencePlanner:
        p = self._params
        horizon = self._policy.config.horizon
        delay = DelayEstimator(
            control_period_s=control_period,
            max_steps=horizon,
            percentile=p["delay_percentile"],
            margin_steps=p["delay_margin_steps"],
            fixed_delay=p["fixed_delay_steps"] if p["delay_mode"] == "fixed" else None,
            initial_delay=min(horizon, p["fixed_delay_steps"]),
        )
        return InferencePlanner(
            strategy=self._strategy,
            delay=delay,
            action_space=self._action_space,
            joint_count=len(self._joint_names),
            margin_steps=p["trigger_margin_steps"],
            execution_horizon=p["execution_horizon"] or None,
            quantization=p["quantization"],
        )

    def _check_offset(self, delay_steps: int) -> None:
        """Warn (throttled) while Δ·q exceeds the trained Δmax, for a strategy that rolls forward.

        Only a strategy conditioned on the rolled state uses the offsets training taught.
        """
        if not self._strategy.conditions_on_rolled_state:
            return
        reason = offset_beyond_training(
            delay_steps, self._params["quantization"], self._trained_offset
        )
        if reason is not None:
            self.get_logger().warning(reason, throttle_duration_sec=_OFFSET_WARNING_PERIOD_S)

    # --- worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            assert self._planner is not None
            try:
                self._infer(job)
            # A failed inference is logged; the node keeps serving the next observation.
            except Exception as error:
                with self._planner_lock:
                    if job.epoch == self._epoch:
                        self._planner.mark_finished(None)
                self.get_logger().error(f"inference failed: {error!r}", throttle_duration_sec=2.0)

    def _infer(self, job: _Job) -> None:
        request = job.request
        result = self._policy.predict_chunk(
            job.observation.images,
            self._params["instruction"],
            request.conditioning_state,
            previous_chunk=request.previous_chunk,
            strategy=self._strategy.name,
            delay_steps=request.delay_steps,
            execution_horizon=self._params["execution_horizon"] or None,
        )
        latency = self.get_clock().now().nanoseconds * 1e-9 - job.observation.stamp_s
        assert self._planner is not None
        chunk_id = self._next_chunk_id
        self._next_chunk_id += 1
        msg = ActionChunk(
            chunk_id=chunk_id,
            start_step=request.start_step,
            source_step=request.source_step,
            delay_steps=request.delay_steps,
            control_period=job.control_period,
            joint_names=self._joint_names,
            action_space=int(self._action_space),
            quantization=self._params["quantization"],
            execution_horizon=self._params["execution_horizon"],
            strategy=self._strategy.name,
        )
        msg.header.stamp = _stamp(job.observation.stamp_s)
        fill_chunk_actions(
            msg, result.actions, confidence=result.confidence, refined=result.refined
        )
        timing = result.timing
        msg.inference_time.total = timing.total_s
        msg.inference_time.prefix_encoding = timing.prefix_s
        msg.inference_time.sfm = timing.sfm_s
        msg.inference_time.rater = timing.rater_s
        msg.inference_time.afm = timing.afm_s
        # Plan roll-forwards with the float32 actions the executor receives, not the model's
        # wider ones: the rolled state is then exactly what the executor will command. The chunk
        # is known to the planner before it may trigger again: a report in between would start
        # an inference rolled forward over the previous chunk, as if this one did not exist.
        with self._planner_lock:
            if job.epoch != self._epoch:
                # Planned on the clock of an executor that has restarted since: its steps mean
                # nothing to the new one. The new planner does not wait for this job.
                self._diagnostics.add("chunks_dropped_after_executor_restart")
                self.get_logger().warning(
                    f"dropped the chunk for steps {request.start_step}.. of the previous "
                    "executor clock"
                )
                return
            self._planner.on_published(
                chunk_id=chunk_id,
                start_step=request.start_step,
                actions=np.asarray(result.actions, dtype=np.float32),
            )
            self._planner.mark_finished(latency)
            # Published under the lock: a restart detected meanwhile cannot slip between.
            self._chunk_pub.publish(msg)
            self._diagnostics.add("chunks_published")
        self._publish_rolled(request, msg.header.stamp)

    def _publish_rolled(self, request: InferenceRequest, stamp) -> None:
        rollout = request.rollout
        msg = RolledState(
            measured_step=request.source_step,
            target_step=request.source_step + request.delay_steps,
            joint_names=self._joint_names,
            measured_positions=request.measured_state.tolist(),
            rolled_positions=request.rolled_state.tolist(),
            action_steps=rollout.steps.tolist(),
            action_chunk_ids=rollout.chunk_ids.tolist(),
            action_indices=rollout.indices.tolist(),
            action_executed=rollout.executed.tolist(),
        )
        msg.header.stamp = stamp
        self._rolled_pub.publish(msg)

    def destroy_node(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=5.0)
        super().destroy_node()


def _stamp(seconds: float) -> Time:
    nanoseconds = round(seconds * 1e9)
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def main(args=None) -> None:
    run_node(PolicyNode, args)


if __name__ == "__main__":
    main()
