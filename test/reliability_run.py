"""Fuzz and fault-injection run (issue 12): hostile inputs and process faults, real nodes, real DDS.

    source scripts/env.sh
    python test/reliability_run.py --chunks 10000 --images 1000 --joint-states 1000 \
        --out reliability/results.json
    python -m vlash_bench.reliability.report     # RELIABILITY.md from that JSON

In a leased ROS domain (vlash_bringup.node_graph) this process plays the arm (joint states that
follow every command, as a perfect position controller would) and the camera, and records every
report and command of the executor:

1. **chunks**: the executor alone (vlash, armed); hostile ``ActionChunk``s of every kind of
   :mod:`vlash_bench.reliability.hostile`, each mixed with valid ones, paced so the executor
   never has more than a few waiting (a lost message is counted, not hidden);
2. **images and joint states**: the policy node (tiny random checkpoint) joins and closes the
   loop; hostile camera frames and joint states go to it (and the joint states to the executor);
3. **faults**, in the running loop: the camera stops for 2 s; a chunk arrives after all its
   steps; the policy is SIGKILLed and restarted; the executor is SIGKILLed and restarted while
   the policy runs (its step counter restarts); the recorder is stopped with SIGINT under load.

Then every command the executor published is checked against its position limits and per-tick
step, every node's ``/diagnostics`` counts against what was sent, and each fault's recovery is
counted in executor ticks. The JSON holds all of it; test/test_reliability.py runs this at CI
size and asserts the same totals.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from vlash_bench.reliability import hostile
from vlash_bench.reliability.checks import (
    CommandCheck,
    Tick,
    check_commands,
    first_execution,
    first_hold,
    hold_lags,
    report_gaps,
)
from vlash_bringup.node_graph import NodeGraph
from vlash_core.input_diagnostics import parse_counts, received_key, refused_key
from vlash_core.safety_limits import SafetyLimits
from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_msgs.msg import ActionChunk, ExecutedActions
from vlash_policy.recording.bag_io import (
    ACTION_CHUNK_TOPIC,
    CAMERA_TOPIC,
    DEFAULT_TOPICS,
    EXECUTED_ACTIONS_TOPIC,
    FORWARD_COMMANDS_TOPIC,
    JOINT_STATES_TOPIC,
    qualified_topics,
    read_messages,
)

JOINTS = tuple(SO101_JOINT_NAMES)
RATE_HZ = 30.0
PERIOD_S = 1.0 / RATE_HZ
# Tight enough that the hostile targets (and the random policy's) are clamped most ticks.
LOWER, UPPER, MAX_VELOCITY = -1.2, 1.2, 1.5
MAX_LEAD_S = 2.0
MAX_OBSERVATION_AGE_S = 1.0
CAMERA_PERIOD_S = 0.1
CAMERA_GAP_S = 2.0
SENSOR_PERIOD_S = 0.04
LATE_CHUNK_ID = 10**12
KEEP_ALL = QoSProfile(depth=100_000, reliability=ReliabilityPolicy.RELIABLE)
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
START_TIMEOUT_S = 180.0
WAIT_S = 60.0
BURST_TOPIC = "/reliability/burst"
RECORDED = {
    **qualified_topics(
        (
            EXECUTED_ACTIONS_TOPIC,
            FORWARD_COMMANDS_TOPIC,
            ACTION_CHUNK_TOPIC,
            JOINT_STATES_TOPIC,
            CAMERA_TOPIC,
        )
    ),
    BURST_TOPIC: DEFAULT_TOPICS[JOINT_STATES_TOPIC],
}


def write_executor_parameters(path: Path, **extra: object) -> Path:
    """A parameter file for an armed vlash executor on the fault runs' joints and limits."""
    params = {
        "joint_names": list(JOINTS),
        "control_rate_hz": RATE_HZ,
        "strategy": "vlash",
        "start_armed": True,
        "position_lower": [LOWER] * len(JOINTS),
        "position_upper": [UPPER] * len(JOINTS),
        "max_joint_velocity": [MAX_VELOCITY] * len(JOINTS),
        **extra,
    }
    path.write_text(yaml.safe_dump({"executor": {"ros__parameters": params}}))
    return path


class Run:
    """One fuzz and fault run; :meth:`execute` returns its JSON-ready result."""

    def __init__(self, graph: NodeGraph, work: Path, checkpoint: Path, seed: int) -> None:
        self.graph, self.work, self.checkpoint, self.seed = graph, work, checkpoint, seed
        self.rng = np.random.default_rng(seed)
        self.limits = SafetyLimits.from_velocity(
            lower=LOWER,
            upper=UPPER,
            max_velocity=MAX_VELOCITY,
            control_period_s=PERIOD_S,
            joint_count=len(JOINTS),
        )
        node = graph.node
        self.node = node
        self.epoch = 0
        self.reports: list[list[bytes]] = [[]]
        self.commands: list[list[np.ndarray]] = [[]]
        self.starts: list[np.ndarray] = []
        self.arm = np.zeros(len(JOINTS))
        self.camera_on = False
        self.camera_frames = 0
        self.policy_chunks: list[tuple[float, ActionChunk]] = []
        self.diagnostics: dict[str, dict[str, int]] = {}
        self.faults: list[dict[str, Any]] = []
        self.expected_exits: set[str] = set()
        self._decoded: tuple[int, int, ExecutedActions] | None = None
        self._ticks: list[list[Tick]] = []
        node.create_subscription(
            ExecutedActions,
            "/vlash/executed_actions",
            lambda raw: self.reports[self.epoch].append(raw),
            KEEP_ALL,
            raw=True,
        )
        node.create_subscription(
            Float64MultiArray, "/forward_position_controller/commands", self._on_command, KEEP_ALL
        )
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, KEEP_ALL)
        self.chunk_pub = node.create_publisher(ActionChunk, "/vlash/action_chunk", RELIABLE)
        self.joint_pub = node.create_publisher(JointState, "/joint_states", RELIABLE)
        self.image_pub = node.create_publisher(Image, "/camera/image_raw", RELIABLE)
        node.create_timer(PERIOD_S, self._publish_arm)
        node.create_timer(CAMERA_PERIOD_S, self._publish_camera)
        self.processes: dict[str, Any] = {}

    # --- the simulated arm and camera ---------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        command = np.asarray(msg.data, dtype=np.float64)
        self.commands[self.epoch].append(command)
        self.arm = command  # a perfect position controller

    def _stamped(self, msg: Any) -> Any:
        msg.header.stamp = self.node.get_clock().now().to_msg()
        return msg

    def _publish_arm(self) -> None:
        self.joint_pub.publish(
            self._stamped(JointState(name=list(JOINTS), position=self.arm.tolist()))
        )

    def _publish_camera(self) -> None:
        if self.camera_on:
            self.publish_image(hostile.valid_image_fields(value=int(self.rng.integers(256))))

    def publish_image(self, fields: dict[str, Any]) -> None:
        msg = Image(**(fields | {"data": array.array("B", fields["data"])}))
        self.image_pub.publish(self._stamped(msg))
        self.camera_frames += 1

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = parse_counts([(v.key, v.value) for v in status.values])

    # --- reading the executor -------------------------------------------------------------------
    def latest(self) -> ExecutedActions | None:
        reports = self.reports[self.epoch]
        if not reports:
            return None
        if self._decoded is None or self._decoded[:2] != (self.epoch, len(reports)):
            self._decoded = (
                self.epoch,
                len(reports),
                deserialize_message(reports[-1], ExecutedActions),
            )
        return self._decoded[2]

    @property
    def step(self) -> int:
        latest = self.latest()
        return -1 if latest is None else latest.step

    def ticks(self, epoch: int) -> list[Tick]:
        """The reports of executor process ``epoch`` so far (decoded once each)."""
        while len(self._ticks) <= epoch:
            self._ticks.append([])
        decoded = self._ticks[epoch]
        for raw in self.reports[epoch][len(decoded) :]:
            msg = deserialize_message(raw, ExecutedActions)
            decoded.append(Tick(msg.step, msg.holding, msg.steps_left, tuple(msg.chunk_ids)))
        return decoded

    def wait_step(self, step: int) -> None:
        self.graph.spin_until(lambda: self.step >= step, WAIT_S, f"executor step {step}")

    def counts(self, node_name: str) -> dict[str, int]:
        return self.diagnostics.get(f"/{node_name}: inputs", {})

    def wait_counts(self, node_name: str, key: str, value: int, timeout_s: float = 15.0) -> int:
        """Spin until ``node_name``'s diagnostics show ``key >= value`` (bounded); the count."""
        deadline = time.monotonic() + timeout_s
        while self.counts(node_name).get(key, 0) < value and time.monotonic() < deadline:
            self.graph.spin_once(0.05)
        return self.counts(node_name).get(key, 0)

    # --- processes -------------------------------------------------------------------------------
    def start_executor(self, name: str) -> None:
        path = write_executor_parameters(self.work / f"{name}.yaml", max_chunk_lead_s=MAX_LEAD_S)
        self.starts.append(self.arm.copy())
        self.processes[name] = self.graph.start_node(
            "vlash_executor",
            "executor_node",
            ["--ros-args", "-r", "__node:=executor", "--params-file", str(path)],
            name,
        )
        # Armed with the arm's position: it commands (holds) from its first tick on. Its reports
        # travel on another topic, which this process may discover later than the commands.
        self.graph.spin_until(
            lambda: len(self.commands[self.epoch]) >= 3 and self.reports[self.epoch],
            START_TIMEOUT_S,
            f"{name} commanding and reporting",
        )

    def start_policy(self, name: str) -> float:
        args = ["-p", "strategy:=vlash", "-p", f"model_path:={self.checkpoint}"]
        args += ["-p", f"max_observation_age_s:={MAX_OBSERVATION_AGE_S}"]
        started = time.monotonic()
        self.processes[name] = self.graph.start_node(
            "vlash_policy", "policy_node", ["--ros-args", "-r", "__node:=policy", *args], name
        )
        return started

    def wait_policy_chunk(self, after: float, what: str) -> tuple[float, ActionChunk]:
        self.graph.spin_until(
            lambda: any(t > after for t, _ in self.policy_chunks), START_TIMEOUT_S, what
        )
        return next((t, c) for t, c in self.policy_chunks if t > after)

    def _on_policy_chunk(self, msg: ActionChunk) -> None:
        if msg.chunk_id != LATE_CHUNK_ID:
            self.policy_chunks.append((time.monotonic(), msg))

    # --- phase 1: hostile chunks -----------------------------------------------------------------
    def fuzz_chunks(self, hostile_count: int) -> dict[str, Any]:
        setup = hostile.ExecutorSetup(
            joint_names=JOINTS,
            control_period_s=PERIOD_S,
            strategy="vlash",
            lower=self.limits.lower,
            upper=self.limits.upper,
            max_lead_steps=round(MAX_LEAD_S / PERIOD_S),
        )
        fuzzer = hostile.ChunkFuzzer(setup, self.seed)
        newest_source: int | None = None
        last_accepted: dict[str, Any] | None = None
        sent: Counter[str] = Counter()
        outcomes: dict[str, Counter[str]] = {}
        stalls = 0
        for kind in fuzzer.plan(hostile_count, valid_every=4):
            chunk = fuzzer.make(kind, hostile.ClockState(self.step, newest_source, last_accepted))
            fields = chunk.fields | {"actions": array.array("f", chunk.fields["actions"])}
            self.chunk_pub.publish(ActionChunk(**fields))
            sent[chunk.kind] += 1
            outcomes.setdefault(chunk.kind, Counter())[chunk.outcome] += 1
            if chunk.refused:
                continue
            newest_source, last_accepted = chunk.fields["source_step"], chunk.fields
            # Pacing: the executor has taken every message up to this accepted chunk before the
            # next is sent (its reports name the newest accepted chunk), so at most a few wait in
            # its reader's queue (depth 10) and none is overwritten.
            chunk_id = chunk.fields["chunk_id"]
            try:
                self.graph.spin_until(
                    lambda c=chunk_id: (
                        self.latest() is not None and self.latest().running_chunk_id >= c
                    ),
                    5.0,
                    f"executor accepting chunk {chunk_id}",
                )
            except TimeoutError:
                stalls += 1
        total = sum(sent.values())
        received = self.wait_counts("executor", received_key("ActionChunk"), total)
        counts = self.counts("executor")
        return {
            "sent": total,
            "received": received,
            "lost": total - received,
            "pacing_timeouts": stalls,
            "kinds": _kinds_table(sent, outcomes, counts, "ActionChunk"),
            "accepted_expected": sum(
                c[hostile.ACCEPTED] + c[hostile.PASSED] for c in outcomes.values()
            ),
            "accepted_counted": counts.get("accepted.ActionChunk", 0),
            "passed_expected": sum(c[hostile.PASSED] for c in outcomes.values()),
            "passed_counted": counts.get("passed_chunks", 0),
        }

    # --- phase 2: hostile images and joint states --------------------------------------------
    def fuzz_sensors(self, images: int, joint_states: int) -> dict[str, Any]:
        image_sent: Counter[str] = Counter()
        image_outcomes: dict[str, Counter[str]] = {}
        joint_sent: Counter[str] = Counter()
        joint_outcomes: dict[str, Counter[str]] = {}
        image_kinds = [k for k in hostile.IMAGE_KINDS if k != "valid"]
        joint_kinds = [k for k in hostile.JOINT_STATE_KINDS if k != "valid"]
        for i in range(max(images, joint_states)):
            if i < images:
                frame = hostile.image(str(self.rng.choice(image_kinds)), self.rng)
                self.publish_image(frame.fields)
                image_sent[frame.kind] += 1
                image_outcomes.setdefault(frame.kind, Counter())[frame.outcome] += 1
            if i < joint_states:
                state = hostile.joint_state(
                    str(self.rng.choice(joint_kinds)), JOINTS, self.arm, self.rng
                )
                self.joint_pub.publish(self._stamped(JointState(**state.fields)))
                joint_sent[state.kind] += 1
                joint_outcomes.setdefault(state.kind, Counter())[state.outcome] += 1
            # About 25 of each a second between the valid ones: the policy's image queue holds 5.
            self.graph.spin_for(SENSOR_PERIOD_S)
        refused = lambda sent, outcomes: sum(  # noqa: E731
            n for kind, n in sent.items() if next(iter(outcomes[kind])) != hostile.ACCEPTED
        )
        for node_name, source, sent, outcomes in (
            ("policy", "Image", image_sent, image_outcomes),
            ("policy", "JointState", joint_sent, joint_outcomes),
            ("executor", "JointState", joint_sent, joint_outcomes),
        ):
            total = refused(sent, outcomes)
            keys = [refused_key(source, k) for k in {next(iter(o)) for o in outcomes.values()}]
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline and (
                sum(self.counts(node_name).get(k, 0) for k in keys) < total
            ):
                self.graph.spin_once(0.05)
        return {
            "Image": {
                "sent": sum(image_sent.values()),
                "kinds": _kinds_table(image_sent, image_outcomes, self.counts("policy"), "Image"),
            },
            "JointState": {
                "sent": sum(joint_sent.values()),
                "kinds": {
                    "policy": _kinds_table(
                        joint_sent, joint_outcomes, self.counts("policy"), "JointState"
                    ),
                    "executor": _kinds_table(
                        joint_sent, joint_outcomes, self.counts("executor"), "JointState"
                    ),
                },
            },
        }

    # --- phase 3: faults ------------------------------------------------------------------------
    def fault(self, name: str, injected_step: int, recovered: Tick | None, **details: Any) -> None:
        self.faults.append(
            {
                "fault": name,
                "injected_step": injected_step,
                "recovered_step": None if recovered is None else recovered.step,
                "recovery_ticks": None if recovered is None else recovered.step - injected_step,
                **details,
            }
        )

    def camera_stop(self) -> None:
        stopped_at, stop_step = time.monotonic(), self.step
        self.camera_on = False
        self.graph.spin_for(CAMERA_GAP_S)
        self.camera_on = True
        back_at, back_step = time.monotonic(), self.step
        after = lambda: {c.chunk_id for t, c in self.policy_chunks if t > back_at}  # noqa: E731
        self.graph.spin_until(
            lambda: first_execution(self.ticks(self.epoch), from_step=back_step, chunk_ids=after()),
            WAIT_S,
            "a chunk conditioned after the camera returned executing",
        )
        ticks = self.ticks(self.epoch)
        held = first_hold(ticks, from_step=stop_step)
        # A chunk in flight when the camera stopped may still come; any later one used a frame
        # older than max_observation_age_s.
        stale = [
            c.chunk_id
            for t, c in self.policy_chunks
            if stopped_at + MAX_OBSERVATION_AGE_S + 1.0 < t < back_at
        ]
        self.fault(
            "camera stopped 2 s",
            back_step,
            first_execution(ticks, from_step=back_step, chunk_ids=after()),
            held_at_step=None if held is None else held.step,
            held_during_gap=held is not None and held.step <= back_step,
            chunks_from_stale_frames=len(stale),
            policy_stale_observations=self.counts("policy").get("stale_observations", 0),
            ok=held is not None and held.step <= back_step and not stale,
        )

    def late_chunk(self, policy: str) -> None:
        """The policy stalls (SIGSTOP) and a chunk of its own arrives after all its steps.

        Conditioned with the policy's newest chunk (so it is neither older nor from the future)
        but for steps already passed; then the policy resumes (SIGCONT).
        """
        group = self.processes[policy].popen.pid
        os.killpg(group, signal.SIGSTOP)
        try:
            self.graph.spin_for(0.5)  # the newest chunk it sent has arrived
            _, newest = self.policy_chunks[-1]
            passed_before = self.counts("executor").get("passed_chunks", 0)
            step = self.step
            self.chunk_pub.publish(ActionChunk(**_late_chunk_fields(newest)))
            counted = self.wait_counts("executor", "passed_chunks", passed_before + 1)
        finally:
            os.killpg(group, signal.SIGCONT)
        resumed_step = self.step
        self.graph.spin_until(
            lambda: first_execution(self.ticks(self.epoch), from_step=resumed_step),
            WAIT_S,
            "the policy's next chunk executing after the late one",
        )
        ticks = self.ticks(self.epoch)
        ran = [t.step for t in ticks if LATE_CHUNK_ID in t.chunk_ids]
        self.fault(
            "chunk arriving after all its steps",
            resumed_step,
            first_execution(ticks, from_step=resumed_step),
            sent_at_step=step,
            actions_executed=len(ran),
            counted_as_passed=counted - passed_before,
            ok=not ran and counted == passed_before + 1,
        )

    def policy_kill(self, name: str, new_name: str) -> None:
        kill_step = self.step
        self.graph.kill(self.processes[name])
        self.graph.spin_until(
            lambda: first_hold(self.ticks(self.epoch), from_step=kill_step) is not None,
            WAIT_S,
            "executor holding after the policy died",
        )
        restart_step = self.step
        started = self.start_policy(new_name)
        first_at, first = self.wait_policy_chunk(started, "restarted policy's first chunk")
        new_ids = lambda: {c.chunk_id for t, c in self.policy_chunks if t >= first_at}  # noqa: E731
        self.graph.spin_until(
            lambda: first_execution(
                self.ticks(self.epoch), from_step=restart_step, chunk_ids=new_ids()
            ),
            WAIT_S,
            "restarted policy's chunks executing",
        )
        ticks = self.ticks(self.epoch)
        held = first_hold(ticks, from_step=kill_step)
        lags = hold_lags([t for t in ticks if kill_step <= t.step <= held.step + 1])
        resumed = first_execution(ticks, from_step=restart_step, chunk_ids=new_ids())
        self.fault(
            "policy SIGKILLed and restarted",
            restart_step,
            resumed,
            killed_at_step=kill_step,
            held_at_step=held.step,
            hold_lag_ticks=max(lags, default=1),
            ticks_from_first_new_chunk=resumed.step - first.source_step,
            ok=max(lags, default=1) <= 1,
        )

    def executor_restart(self, name: str, new_name: str) -> None:
        kill_step = self.step
        self.graph.kill(self.processes[name])
        self.graph.spin_for(1.0)  # what the dead executor sent is in before the new one starts
        self.epoch += 1
        self.reports.append([])
        self.commands.append([])
        restarted_at = time.monotonic()
        self.start_executor(new_name)
        first_step = self.ticks(self.epoch)[0].step
        self.graph.spin_until(
            lambda: first_execution(self.ticks(self.epoch), from_step=first_step),
            WAIT_S,
            "restarted executor executing the policy's chunks",
        )
        resumed = first_execution(self.ticks(self.epoch), from_step=first_step)
        self.wait_step(resumed.step + 60)
        # Chunks the policy published a second after the new executor's first report: they
        # must be planned on the new clock (conditioned on a step it has reached).
        settled = restarted_at + 1.0
        old_clock = [
            c.chunk_id for t, c in self.policy_chunks if t > settled and c.source_step > self.step
        ]
        counts = self.counts("executor")
        refused_old = sum(
            counts.get(refused_key("ActionChunk", k), 0)
            for k in ("future_source", "far_future", "out_of_order")
        )
        self.fault(
            "executor SIGKILLed and restarted under a running policy",
            first_step,
            resumed,
            killed_at_step=kill_step,
            policy_resynchronised=self.wait_counts("policy", "executor_restarts", 1),
            chunks_for_old_steps_after_resync=len(old_clock),
            old_chunks_refused_by_new_executor=refused_old,
            ok=not old_clock,
        )

    def recorder_sigint(self, burst: int) -> None:
        bag = self.work / "bag"
        specs = ", ".join(f"'{topic}:{msgtype}'" for topic, msgtype in RECORDED.items())
        cmd = [sys.executable, "-m", "vlash_policy.recording.recorder_node", "--ros-args"]
        cmd += ["-p", f"output_dir:={bag}", "-p", f"topics:=[{specs}]", "-p", "qos_depth:=100000"]
        publisher = self.node.create_publisher(JointState, BURST_TOPIC, KEEP_ALL)
        recorder = self.graph.processes.start("recorder", cmd, self.graph.env)
        # Matched by node name, not by a count against the one before: the executor SIGKILLed
        # in the phase before still counts as a subscriber until its DDS lease runs out.
        self.graph.spin_until(
            lambda: (
                all(
                    any(
                        info.node_name == "vlash_recorder"
                        for info in self.node.get_subscriptions_info_by_topic(topic)
                    )
                    for topic in RECORDED
                )
                and publisher.get_subscription_count() > 0
            ),
            START_TIMEOUT_S,
            "recorder subscribed to every topic",
        )
        self.graph.spin_for(1.0)  # every publisher matched the recorder, both ways
        step = self.step
        for i in range(burst):  # as fast as this process publishes, the loop running meanwhile
            publisher.publish(self._stamped(JointState(name=["seq"], position=[float(i)])))
            if i % 50 == 0:
                self.graph.spin_for(0.005)
        # Acknowledgements come with DDS heartbeats (seconds apart): keep the loop running.
        deadline = time.monotonic() + 30.0
        while not (acked := publisher.wait_for_all_acked(Duration(seconds=0.05))):
            if time.monotonic() > deadline:
                break
            self.graph.spin_for(0.05)
        code = self.graph.interrupt(recorder)
        in_bag: list[int] = []
        steps: list[int] = []
        opened = True
        try:
            for item in read_messages(bag):
                if item.topic == BURST_TOPIC:
                    in_bag.append(int(item.message.position[0]))
                elif item.topic == "/vlash/executed_actions":
                    steps.append(item.message.step)
        except Exception as error:  # a bag that does not open is the failure measured here
            opened = False
            in_bag, steps = [], [str(error)]
        lost = burst - len(set(in_bag))
        gaps = report_gaps([Tick(s, False, 0, ()) for s in sorted(steps)]) if opened else None
        self.fault(
            "recorder stopped with SIGINT under load",
            step,
            None,
            published=burst,
            acknowledged=bool(acked),
            in_bag=len(set(in_bag)),
            lost=lost,
            bag_opens=opened,
            recorder_exit_code=code,
            report_steps_in_bag=len(steps),
            report_gaps_in_bag=gaps,
            ok=opened and lost == 0 and code == 0 and gaps == 0,
        )

    # --- the whole run --------------------------------------------------------------------------
    def execute(self, chunks: int, images: int, joint_states: int) -> dict[str, Any]:
        began = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str, action: Callable[[], Any]) -> Any:
            start = time.monotonic()
            value = action()
            phases[name] = round(time.monotonic() - start, 1)
            return value

        phase("start executor", lambda: self.start_executor("executor"))
        inputs: dict[str, Any] = {"ActionChunk": phase("chunks", lambda: self.fuzz_chunks(chunks))}
        self.node.create_subscription(
            ActionChunk, "/vlash/action_chunk", self._on_policy_chunk, KEEP_ALL
        )
        self.camera_on = True
        started = self.start_policy("policy")
        phase("start policy", lambda: self.wait_policy_chunk(started, "policy's first chunk"))
        inputs |= phase("sensors", lambda: self.fuzz_sensors(images, joint_states))
        sensors_done = time.monotonic()
        self.wait_policy_chunk(sensors_done, "a policy chunk after the hostile sensor inputs")
        phase("camera stop", self.camera_stop)
        phase("late chunk", lambda: self.late_chunk("policy"))
        phase("policy kill", lambda: self.policy_kill("policy", "policy_2"))
        phase("executor restart", lambda: self.executor_restart("executor", "executor_2"))
        phase("recorder", lambda: self.recorder_sigint(burst=max(200, images)))
        crashes = [p.name for p in self.graph.processes.processes if p.popen.poll() is not None]
        crashes = [n for n in crashes if n not in ("policy", "executor", "recorder")]
        exit_codes = {
            n: self.graph.interrupt(self.processes[n]) for n in ("policy_2", "executor_2")
        }
        crashes += [n for n, code in exit_codes.items() if code != 0]

        command_check = CommandCheck()
        gaps = 0
        for epoch, commands in enumerate(self.commands):
            check_commands(commands, self.limits, start=self.starts[epoch], into=command_check)
            gaps += report_gaps(self.ticks(epoch))
        lags = [lag for epoch in range(len(self.reports)) for lag in hold_lags(self.ticks(epoch))]
        return {
            "seed": self.seed,
            "duration_s": round(time.monotonic() - began, 1),
            "phase_s": phases,
            "executor": {
                "control_rate_hz": RATE_HZ,
                "position_limits_rad": [LOWER, UPPER],
                "max_step_per_tick_rad": MAX_VELOCITY * PERIOD_S,
                "ticks": sum(len(r) for r in self.reports),
            },
            "inputs": inputs,
            "commands": command_check.as_dict(),
            "holds": {"runs_out": len(lags), "max_hold_lag_ticks": max(lags, default=None)},
            "faults": self.faults,
            "crashes": crashes,
            "exit_codes": exit_codes,
            "messages_lost": {
                "ActionChunk": inputs["ActionChunk"]["lost"],
                "executor_reports": gaps,
                "bag": next(f["lost"] for f in self.faults if f["fault"].startswith("recorder")),
                "refused_inputs_uncounted": _uncounted(inputs),
            },
            "diagnostics": {name: counts for name, counts in sorted(self.diagnostics.items())},
        }


def _late_chunk_fields(newest: ActionChunk) -> dict[str, Any]:
    """A well-formed chunk conditioned with the policy's newest, for steps already passed."""
    return {
        "chunk_id": LATE_CHUNK_ID,
        "start_step": newest.source_step,
        "source_step": newest.source_step,
        "control_period": PERIOD_S,
        "joint_names": list(JOINTS),
        "horizon": 1,
        "action_dim": len(JOINTS),
        "quantization": 1,
        "actions": array.array("f", [0.0] * len(JOINTS)),
        "strategy": "vlash",
    }


def _kinds_table(
    sent: Counter[str], outcomes: dict[str, Counter[str]], counts: dict[str, int], source: str
) -> dict[str, dict[str, Any]]:
    """Per fuzz kind: how many were sent, the outcome expected, how many the node counted."""
    table = {}
    for kind in sorted(sent):
        (outcome,) = outcomes[kind]  # one outcome per kind
        counted = (
            None
            if outcome in (hostile.ACCEPTED, hostile.PASSED)
            else counts.get(refused_key(source, outcome), 0)
        )
        table[kind] = {"sent": sent[kind], "outcome": outcome, "node_count_of_outcome": counted}
    return table


def _uncounted(inputs: dict[str, Any]) -> int:
    """Refused inputs the node did not count: per refusal kind, sent minus counted (>= 0)."""
    tables = [inputs["ActionChunk"]["kinds"], inputs["Image"]["kinds"]]
    tables += list(inputs["JointState"]["kinds"].values())
    missing = 0
    for table in tables:
        by_outcome: Counter[str] = Counter()
        counted: dict[str, int] = {}
        for row in table.values():
            if row["node_count_of_outcome"] is not None:
                by_outcome[row["outcome"]] += row["sent"]
                counted[row["outcome"]] = row["node_count_of_outcome"]
        missing += sum(max(0, n - counted[o]) for o, n in by_outcome.items())
    return missing


def run(
    *, chunks: int, images: int, joint_states: int, seed: int, work: Path, checkpoint: Path
) -> dict[str, Any]:
    """One run in a fresh leased domain; its processes are stopped whatever happens."""
    graph = NodeGraph(work / "logs")
    try:
        return Run(graph, work, checkpoint, seed).execute(chunks, images, joint_states)
    finally:
        graph.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="hostile chunks (default 10000)")
    parser.add_argument("--images", type=int, default=1000, help="hostile images (default 1000)")
    parser.add_argument("--joint-states", type=int, default=1000, help="hostile joint states")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reliability/results.json"))
    parser.add_argument("--work", type=Path, default=Path("results/reliability"), help="logs, bag")
    args = parser.parse_args(argv)
    from vlash_bench.common import machine_info
    from vlash_sim.random_checkpoint import random_checkpoint

    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = random_checkpoint(args.work / "checkpoint")
    result = run(
        chunks=args.chunks,
        images=args.images,
        joint_states=args.joint_states,
        seed=args.seed,
        work=args.work,
        checkpoint=checkpoint,
    )
    result["command"] = "python test/reliability_run.py " + " ".join(argv or sys.argv[1:])
    result["machine"] = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"wrote {args.out}: {result['commands']['checked']} commands checked, "
        f"{result['commands']['violations']} violations, {len(result['crashes'])} crashes"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
