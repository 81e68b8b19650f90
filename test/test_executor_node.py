"""The executor node as a real process over DDS; this test process plays the policy and the arm.

The test publishes ``joint_states`` (the arm) and ``vlash/action_chunk`` (the policy) and reads
back what the executor commanded and reported (``vlash/executed_actions``). Every assertion is
step arithmetic on the executor's own reports, so the outcome does not depend on how fast this
machine is: where arrival time matters (late actions), the arrival step is read from the first
report naming the chunk, and the strategy's definition (VLASH Sec. 3, Fig. 3;
:mod:`vlash_core.strategies`) says what must have happened given that step. Every command is
checked against the one safety model the policy's roll-forward also replays
(:class:`vlash_core.safety_limits.SafetyLimits`), with the real velocity limit (3 rad/s).
"""

from __future__ import annotations

import array
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vlash_bringup.node_graph import NodeGraph
from vlash_core.safety_limits import SafetyLimits
from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_core.stamps import stamp_ns
from vlash_msgs.msg import ActionChunk, ExecutedActions

JOINTS = list(SO101_JOINT_NAMES)
ZERO = [0.0] * len(JOINTS)
# Deep enough that no report or command is ever replaced before this process takes it.
KEEP_ALL = QoSProfile(depth=100_000, reliability=ReliabilityPolicy.RELIABLE)
COMMAND_TOPICS = {
    "forward_position": (Float64MultiArray, "forward_position_controller/commands"),
    "joint_trajectory": (JointTrajectory, "joint_trajectory_controller/joint_trajectory"),
    "joint_state": (JointState, "joint_command"),
}
# Generous bounds for waits measured in executor ticks (the node starts in 1-3 s here).
START_TIMEOUT_S = 60.0
TICK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Entry:
    """One executed action from the executor's reports."""

    step: int
    chunk_id: int
    index: int
    command: np.ndarray


class ExecutorRig:
    """A real executor process plus this process's publishers/subscribers around it.

    It starts armed (the executor node's default is disarmed, as on a real arm) and with the
    executor node's default limits written out, so the rig knows the executor's safety model.
    ``measured=None`` publishes no joint states until :attr:`measured` is set.
    """

    def __init__(
        self,
        graph: NodeGraph,
        tmp_path: Path,
        *,
        measured: list[float] | None = ZERO,
        **params,
    ) -> None:
        self.graph = graph
        self.params = {
            "joint_names": JOINTS,
            "control_rate_hz": 30.0,
            "start_armed": True,
            "position_lower": [-3.2] * len(JOINTS),
            "position_upper": [3.2] * len(JOINTS),
            "max_joint_velocity": [3.0] * len(JOINTS),
            **params,
        }
        self.period = 1.0 / self.params["control_rate_hz"]
        self.interface = self.params.get("command_interface", "forward_position")
        self.limits = SafetyLimits.from_velocity(
            lower=self.params["position_lower"],
            upper=self.params["position_upper"],
            max_velocity=self.params["max_joint_velocity"],
            control_period_s=self.period,
            joint_count=len(JOINTS),
        )
        self.measured = measured
        params_file = tmp_path / "executor.yaml"
        params_file.write_text(yaml.safe_dump({"executor": {"ros__parameters": self.params}}))

        node = graph.node
        self.feedback: list[ExecutedActions] = []
        self.commands: list = []
        command_type, command_topic = COMMAND_TOPICS[self.interface]
        node.create_subscription(
            ExecutedActions, "vlash/executed_actions", self.feedback.append, KEEP_ALL
        )
        node.create_subscription(command_type, command_topic, self.commands.append, KEEP_ALL)
        self.intended: list[JointState] = []
        node.create_subscription(
            JointState, "executor/intended_command", self.intended.append, KEEP_ALL
        )
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.chunk_pub = node.create_publisher(ActionChunk, "vlash/action_chunk", reliable)
        self.joint_pub = node.create_publisher(JointState, "joint_states", reliable)
        # The arm: its measured position, repeated like a driver would (the executor seeds its
        # hold position from the first one it gets).
        node.create_timer(0.1, self._publish_joint_state)
        self.process = graph.start_node(
            "vlash_executor",
            "executor_node",
            ["--ros-args", "-r", "__node:=executor", "--params-file", str(params_file)],
            "executor",
        )
        graph.spin_until(
            lambda: (
                self.feedback
                and self.chunk_pub.get_subscription_count() > 0
                and self.joint_pub.get_subscription_count() > 0
            ),
            START_TIMEOUT_S,
            "executor reporting and subscribed to chunks and joint states",
        )
        if measured is None or not self.params["start_armed"]:
            return  # nothing is commanded yet
        if self.interface == "joint_trajectory":
            # Trajectories are only sent for chunks; wait for joint states to have been sent
            # since the executor subscribed (published every 0.1 s, 30 ticks = 1 s at 30 Hz).
            self.wait_ticks(round(1.0 / self.period))
        else:
            graph.spin_until(
                lambda: self.commands, START_TIMEOUT_S, "first command (hold at measured position)"
            )

    def _publish_joint_state(self) -> None:
        if self.measured is None:
            return
        msg = JointState(name=JOINTS, position=[float(x) for x in self.measured])
        msg.header.stamp = self.graph.node.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    # --- the policy's side -----------------------------------------------------------------
    @property
    def latest_step(self) -> int:
        return self.feedback[-1].step

    def chunk(
        self,
        chunk_id: int,
        start_step: int,
        actions: np.ndarray,
        *,
        strategy: str | None = None,
        action_space: int = ActionChunk.ABSOLUTE,
        quantization: int = 1,
        execution_horizon: int = 0,
    ) -> ActionChunk:
        """A well-formed chunk (tests break one field at a time)."""
        actions = np.asarray(actions, dtype=np.float32)
        return ActionChunk(
            chunk_id=chunk_id,
            start_step=start_step,
            # The newest observation it can have been conditioned on is that of the last report.
            source_step=min(start_step, self.latest_step),
            control_period=self.period,
            joint_names=JOINTS,
            action_space=action_space,
            horizon=actions.shape[0],
            action_dim=actions.shape[1],
            quantization=quantization,
            execution_horizon=execution_horizon,
            actions=array.array("f", actions.ravel().tolist()),
            strategy=self.params.get("strategy", "vlash") if strategy is None else strategy,
        )

    def send(self, msg: ActionChunk) -> None:
        self.chunk_pub.publish(msg)

    # --- waiting and reading reports ---------------------------------------------------------
    def wait_ticks(self, ticks: int) -> None:
        target = self.latest_step + ticks
        self.graph.spin_until(
            lambda: self.latest_step >= target, TICK_TIMEOUT_S, f"executor report of step {target}"
        )

    def wait_step(self, step: int) -> None:
        self.graph.spin_until(
            lambda: self.latest_step >= step, TICK_TIMEOUT_S, f"executor report of step {step}"
        )

    def arrival_step(self, chunk_id: int) -> int:
        """Step of the first report naming ``chunk_id``: the first tick after it was accepted."""
        self.graph.spin_until(
            lambda: any(m.running_chunk_id == chunk_id for m in self.feedback),
            TICK_TIMEOUT_S,
            f"executor accepting chunk {chunk_id}",
        )
        return next(m.step for m in self.feedback if m.running_chunk_id == chunk_id)

    def report(self, step: int) -> ExecutedActions:
        return next(m for m in self.feedback if m.step == step)

    def entries(self, chunk_id: int | None = None) -> list[Entry]:
        out = []
        for msg in self.feedback:
            rows = np.asarray(msg.commanded_positions, dtype=np.float64).reshape(-1, len(JOINTS))
            for step, cid, index, row in zip(
                msg.steps, msg.chunk_ids, msg.indices, rows, strict=True
            ):
                if chunk_id is None or cid == chunk_id:
                    out.append(Entry(int(step), int(cid), int(index), row))
        return out

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def wait_log(self, text: str) -> None:
        self.graph.spin_until(lambda: text in self.log(), TICK_TIMEOUT_S, f"log line {text!r}")

    def change_state(self, transition: int) -> None:
        """Ask the executor's lifecycle for ``transition`` (the operator's arm/disarm switch)."""
        client = self.graph.node.create_client(ChangeState, "executor/change_state")
        self.graph.spin_until(
            client.service_is_ready, START_TIMEOUT_S, "executor/change_state service"
        )
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
        self.graph.spin_until(future.done, TICK_TIMEOUT_S, f"lifecycle transition {transition}")
        assert future.result().success, f"lifecycle transition {transition} refused"

    def check_commands_follow_the_safety_model(
        self, actions: dict[int, np.ndarray], first_previous: np.ndarray
    ) -> None:
        """Each executed command is the safety pipeline applied to its chunk's action.

        ``actions`` maps chunk ids to their (absolute) actions as sent; ``first_previous`` is
        the command in force before the first executed step (the measured hold position).
        """
        previous = first_previous
        for entry in sorted(self.entries(), key=lambda e: e.step):
            action = np.asarray(actions[entry.chunk_id], dtype=np.float32)[entry.index]
            expected, _ = self.limits.command(action.astype(np.float64), previous, "absolute")
            assert entry.command.tolist() == expected.tolist(), (
                f"step {entry.step}: commanded {entry.command.tolist()} for chunk "
                f"{entry.chunk_id} action {entry.index}, the safety model gives "
                f"{expected.tolist()} (previous command {previous.tolist()})"
            )
            previous = entry.command

    def check_report_invariants(self) -> None:
        """Reports are consecutive ticks; each holds, or carries exactly that tick's action.

        Every report carries the executor's limits, exactly those its parameters define (the
        policy's roll-forward applies these and no others).
        """
        steps = [m.step for m in self.feedback]
        assert steps == list(range(steps[0], steps[0] + len(steps))), (
            f"executor reports skip or repeat steps: {steps}"
        )
        for msg in self.feedback:
            assert msg.joint_names == JOINTS
            assert msg.control_period == pytest.approx(self.period, rel=1e-12)
            assert list(msg.position_lower) == self.limits.lower.tolist()
            assert list(msg.position_upper) == self.limits.upper.tolist()
            assert list(msg.max_step_per_tick) == self.limits.max_step.tolist()
            if msg.holding:
                assert list(msg.steps) == [], f"step {msg.step}: holding but reports {msg.steps}"
            else:
                assert list(msg.steps) == [msg.step], (
                    f"step {msg.step}: not holding but reports executed steps {list(msg.steps)}"
                )


@pytest.fixture
def make_rig(ros_graph, tmp_path):
    def make(**kwargs) -> ExecutorRig:
        return ExecutorRig(ros_graph, tmp_path, **kwargs)

    return make


def _ramp(horizon: int, start: float, slope: float) -> np.ndarray:
    """(H, 6) actions moving every joint by ``slope`` per step: action i is recognisable."""
    return np.repeat((start + slope * np.arange(horizon))[:, None], len(JOINTS), axis=1)


# --- malformed chunks ---------------------------------------------------------------------
LOWER, UPPER, MAX_VELOCITY = -0.5, 0.5, 0.3


def _malformed(rig: ExecutorRig) -> list[tuple[ActionChunk, str]]:
    """Chunks with one broken field each, and the log text that must name field and value."""
    start = rig.latest_step + 5
    good = np.zeros((4, len(JOINTS)), dtype=np.float32)

    nan = rig.chunk(1, start, good)
    nan.actions[7] = math.nan
    short = rig.chunk(2, start, good)
    short.actions = short.actions[:-1]
    swapped = [*JOINTS[:4], JOINTS[5], JOINTS[4]]
    names = rig.chunk(3, start, good)
    names.joint_names = swapped
    space = rig.chunk(4, start, good, action_space=7)
    quantized = rig.chunk(5, start, good, quantization=0)
    strategy = rig.chunk(6, start, good, strategy="rtc")
    return [
        (nan, "refused ActionChunk 1 (non_finite): ActionChunk.actions[7] is NaN"),
        (
            short,
            "refused ActionChunk 2 (shape): ActionChunk.actions has 23 values but "
            "horizon*action_dim = 4*6 = 24",
        ),
        (names, f"refused ActionChunk 3 (joint_names): ActionChunk.joint_names {swapped} differ"),
        (space, "refused ActionChunk 4 (action_space): ActionChunk.action_space code 7 is not"),
        (
            quantized,
            "refused ActionChunk 5 (quantization): ActionChunk.quantization must be in "
            "[1, horizon = 4], got 0",
        ),
        (
            strategy,
            "refused ActionChunk 6 (strategy): ActionChunk.strategy 'rtc' differs from the "
            "executor's",
        ),
    ]


def test_malformed_chunks_are_rejected_by_name_and_commands_stay_within_limits(make_rig):
    rig = make_rig(
        strategy="vlash",
        policy_timeout_s=0.0,
        position_lower=[LOWER] * 6,
        position_upper=[UPPER] * 6,
        max_joint_velocity=[MAX_VELOCITY] * 6,
        # Joint 2 starts outside the limits: the hold position is clamped into them.
        measured=[0.45, -0.45, 0.9, 0.0, 0.0, 0.0],
    )
    cases = _malformed(rig)
    for msg, _ in cases:  # back to back: every distinct reason must still reach the log
        rig.send(msg)
    for _, expected in cases:
        rig.graph.spin_until(
            lambda e=expected: e in rig.log(), TICK_TIMEOUT_S, f"log line {expected!r}"
        )
    last_rejection_step = rig.latest_step
    rig.wait_ticks(10)  # the executor keeps ticking after the rejections

    for msg in rig.feedback:  # no valid chunk yet: holding, nothing executed, nothing dropped
        assert msg.holding and msg.running_chunk_id == -1 and msg.dropped_actions == 0, msg
    assert rig.latest_step >= last_rejection_step + 10

    # A valid chunk whose targets lie far outside the limits: it runs, clamped.
    target = np.array([2.0, -2.0, 0.3, 0.3, -0.3, 0.0], dtype=np.float32)
    # 40 steps: joints 3 and 4 need 30 ticks at the velocity limit to reach their targets.
    rig.send(rig.chunk(7, rig.latest_step + 3, np.tile(target, (40, 1))))
    arrival = rig.arrival_step(7)
    rig.wait_step(arrival + 45)
    rig.check_report_invariants()

    executed = rig.entries(7)
    assert executed, "the valid chunk after the malformed ones never executed"
    commands = np.array([m.data for m in rig.commands])
    assert np.all(np.isfinite(commands))
    assert commands.min() >= LOWER and commands.max() <= UPPER, (
        f"command outside [{LOWER}, {UPPER}]: min {commands.min()}, max {commands.max()}"
    )
    max_step = MAX_VELOCITY * rig.period
    jumps = np.abs(np.diff(commands, axis=0)).max(axis=1)
    assert np.all(jumps <= max_step * (1 + 1e-9)), (
        f"command changed by {jumps.max()} rad in one tick, limit {max_step}"
    )
    # The limits were active, not merely respected: the commands reach the clamped targets.
    assert commands[-1].tolist() == pytest.approx([UPPER, LOWER, 0.3, 0.3, -0.3, 0.0])
    assert commands[0][2] == UPPER  # measured 0.9 was clamped before the first hold command


# --- chunk switching per strategy -----------------------------------------------------------
HORIZON = 12
SYNC_K = 5  # execution horizon: only sync stops after K actions (VLASH Fig. 3a)


@pytest.mark.parametrize("strategy", ["sync", "naive_async", "vlash", "rtc"])
def test_step_bookkeeping_follows_the_strategy(make_rig, strategy):
    rig = make_rig(strategy=strategy, policy_timeout_s=0.0)
    step_exact = strategy in ("vlash", "rtc")
    executable = SYNC_K if strategy == "sync" else HORIZON
    chunks = {
        # Conditioned 3 steps ago (an rtc/naive chunk's start is its observation step): the
        # executor has passed start+3 before this arrives, so at least 4 actions are late.
        1: (lambda: rig.latest_step - 3, _ramp(HORIZON, 0.01, 0.01)),
        # Meant for 15 steps ahead (a vlash chunk's t+Δ).
        2: (lambda: rig.latest_step + 15, _ramp(HORIZON, 0.3, -0.01)),
    }
    for chunk_id, (start_of, actions) in chunks.items():
        start = start_of()
        rig.send(rig.chunk(chunk_id, start, actions, execution_horizon=SYNC_K))
        arrival = rig.arrival_step(chunk_id)
        rig.wait_step(max(start, arrival) + HORIZON + 3)

        entries = rig.entries(chunk_id)
        indices = [e.index for e in entries]
        dropped = rig.report(arrival).dropped_actions - rig.report(arrival - 1).dropped_actions
        if step_exact:
            # Action i runs at start_step + i; those whose step passed before arrival are
            # dropped and counted (VLASH Sec. 3 execution interval; RTC keeps t-alignment).
            first = min(executable, max(0, arrival - start))
            assert indices == list(range(first, executable)), (chunk_id, arrival, start)
            assert [e.step for e in entries] == [start + i for i in indices]
            assert dropped == first
            if chunk_id == 1:
                assert first >= 4
            for step in range(arrival, start):  # an early chunk waits, holding, for its step
                report = rig.report(step)
                assert report.holding and report.running_chunk_id == chunk_id
        else:
            # Switch on arrival: action 0 runs at the arrival step whatever start_step says.
            assert indices == list(range(executable)), (chunk_id, arrival, start)
            assert [e.step for e in entries] == [arrival + i for i in indices]
            assert dropped == 0
        after = max(start + executable, arrival) if step_exact else arrival + executable
        report = rig.report(after)
        assert report.holding and report.steps_left == 0, report  # exhausted: hold
    rig.check_report_invariants()
    # Chunk 2 starts 0.18 rad from where chunk 1 ended: more than 3 rad/s allows in one tick.
    rig.check_commands_follow_the_safety_model(
        {chunk_id: actions for chunk_id, (_, actions) in chunks.items()}, np.zeros(len(JOINTS))
    )
    assert any(
        e.command.tolist() != chunks[2][1][e.index].astype(np.float32).tolist()
        for e in rig.entries(2)
    ), "the velocity limit never bound: the check above proves nothing"


# --- silent policy ------------------------------------------------------------------------
def test_silent_policy_holds_the_last_command_every_tick(make_rig):
    timeout_s = 0.5
    rig = make_rig(
        strategy="naive_async",
        policy_timeout_s=timeout_s,
        command_interface="joint_state",
    )
    timeout_steps = round(timeout_s / rig.period)

    # A short chunk is exhausted before the timeout; a long one is cut by the timeout.
    for chunk_id, horizon, ran in ((1, 6, 6), (2, 60, timeout_steps)):
        actions = _ramp(horizon, 0.02 * chunk_id, 0.01)
        rig.send(rig.chunk(chunk_id, rig.latest_step, actions))
        arrival = rig.arrival_step(chunk_id)
        rig.wait_step(arrival + ran + 15)
        entries = rig.entries(chunk_id)
        assert [e.index for e in entries] == list(range(ran))
        assert [e.step for e in entries] == list(range(arrival, arrival + ran))
        last = actions[ran - 1].astype(np.float32).astype(np.float64)
        commands = {stamp_ns(c.header.stamp): c for c in rig.commands}
        for step in range(arrival + ran, rig.latest_step + 1):
            report = rig.report(step)
            assert report.holding and report.running_chunk_id == chunk_id, report
            # Exhausted: nothing left. Timed out: the remainder stays, but is not executed.
            left = 0 if ran == horizon else arrival + horizon - (step + 1)
            assert report.steps_left == left, report
            command = commands.get(stamp_ns(report.header.stamp))
            if command is not None:  # its command may still be in flight for the newest ticks
                assert list(command.position) == last.tolist(), f"hold at step {step}"

    # The joint_state interface sends one JointState per tick: the stamps pair up one to one.
    rig.check_report_invariants()
    last_report = rig.feedback[-1]
    rig.graph.spin_until(
        lambda: any(c.header.stamp == last_report.header.stamp for c in rig.commands),
        TICK_TIMEOUT_S,
        f"JointState command of step {last_report.step}",
    )
    command_stamps = [stamp_ns(c.header.stamp) for c in rig.commands]
    first = command_stamps[0]
    report_stamps = [
        stamp_ns(m.header.stamp)
        for m in rig.feedback
        if first <= stamp_ns(m.header.stamp) <= stamp_ns(last_report.header.stamp)
    ]
    assert command_stamps[: len(report_stamps)] == report_stamps
    assert all(list(c.name) == JOINTS for c in rig.commands)


# --- control rates ------------------------------------------------------------------------
@pytest.mark.parametrize("rate_hz", [50.0, 100.0])
def test_fast_control_rates_report_every_step_and_its_lateness(make_rig, rate_hz):
    rig = make_rig(strategy="vlash", control_rate_hz=rate_hz, policy_timeout_s=0.0)
    horizon = 40
    start = rig.latest_step + 10
    rig.send(rig.chunk(1, start, _ramp(horizon, 0.0, 0.001)))
    arrival = rig.arrival_step(1)
    rig.wait_step(max(start, arrival) + horizon + 5)

    rig.check_report_invariants()  # consecutive steps, control_period == 1 / rate
    lateness = np.array([m.tick_lateness for m in rig.feedback])
    assert np.all(np.isfinite(lateness)) and np.all(lateness >= 0.0), lateness
    first = max(0, arrival - start)
    entries = rig.entries(1)
    assert [e.step for e in entries] == list(range(start + first, start + horizon))
    assert [e.index for e in entries] == list(range(first, horizon))
    assert rig.feedback[-1].dropped_actions == first


# --- joint trajectory interface -----------------------------------------------------------
def test_joint_trajectory_is_sent_once_per_chunk_with_increasing_times(make_rig):
    rig = make_rig(
        strategy="naive_async",
        command_interface="joint_trajectory",
        policy_timeout_s=0.0,
    )
    first = _ramp(30, 0.0, 0.01)
    second = _ramp(6, 0.5, -0.02)  # starts ~0.45 rad away: the velocity limit shapes it
    rig.send(rig.chunk(1, rig.latest_step, first))
    arrival_1 = rig.arrival_step(1)
    rig.wait_step(arrival_1 + 3)  # the first chunk is running
    rig.send(rig.chunk(2, rig.latest_step, second))
    arrival_2 = rig.arrival_step(2)
    rig.wait_step(arrival_2 + len(second) + 10)
    rig.check_report_invariants()

    assert len(rig.commands) == 2, f"expected one trajectory per chunk, got {len(rig.commands)}"
    # The command in force when each chunk started: the seed, then chunk 1's last command.
    previous = {1: np.zeros(len(JOINTS)), 2: rig.entries(1)[-1].command}
    for chunk_id, trajectory, actions, arrival in zip(
        (1, 2), rig.commands, (first, second), (arrival_1, arrival_2), strict=True
    ):
        # Sent in the tick the chunk started (naive_async: its arrival), covering all of it,
        # each point as the executor's safety pipeline commands it.
        assert trajectory.header.stamp == rig.report(arrival).header.stamp
        assert list(trajectory.joint_names) == JOINTS
        positions = np.array([p.positions for p in trajectory.points])
        sent = actions.astype(np.float32).astype(np.float64)
        expected = rig.limits.commands(previous[chunk_id], sent, "absolute")
        assert positions.tolist() == expected.tolist()
        ran = [e.command.tolist() for e in rig.entries(chunk_id)]  # until the next chunk
        assert ran == positions[: len(ran)].tolist()
        times = [stamp_ns(p.time_from_start) for p in trajectory.points]
        assert all(b > a for a, b in itertools.pairwise(times)), times
        assert times == [round((i + 1) * rig.period * 1e9) for i in range(len(times))]


# --- safe start, arming and stale input (issue 12) -------------------------------------------
FAR = np.full((60, len(JOINTS)), 2.5, dtype=np.float32)  # far from anywhere the arm starts


def _assert_moves_from(rig: ExecutorRig, commands: np.ndarray, measured: list[float]) -> None:
    """The first command is within one step of ``measured``, each next within one of it."""
    max_step = rig.limits.max_step
    path = np.vstack([measured, commands])
    jumps = np.abs(np.diff(path, axis=0))
    assert np.all(jumps <= max_step * (1 + 1e-9)), (
        f"a command moved {jumps.max()} rad in one tick (limit {max_step.max()}); first "
        f"command {commands[0].tolist()} from measured {measured}"
    )


def test_nothing_is_commanded_before_joint_states_then_the_arm_moves_from_where_it_is(make_rig):
    rig = make_rig(strategy="vlash", policy_timeout_s=0.0, measured=None)
    # A chunk asking for a far pose while no joint state has arrived (issue 12: 2.56 rad jumps).
    rig.send(rig.chunk(1, rig.latest_step + 2, FAR))
    rig.arrival_step(1)
    rig.wait_ticks(15)
    assert rig.commands == [], f"{len(rig.commands)} commands before any joint state"
    assert all(m.holding and not m.steps for m in rig.feedback)
    rig.wait_log("holding: no measured joint position received yet")

    measured = [0.3, -0.2, 0.1, 0.0, 0.5, 0.2]
    rig.measured = measured
    rig.graph.spin_until(lambda: len(rig.commands) >= 10, TICK_TIMEOUT_S, "commands after seed")
    commands = np.array([m.data for m in rig.commands])
    _assert_moves_from(rig, commands, measured)
    # It does execute the chunk, at the velocity limit from the measured position.
    first = rig.entries(1)[0]
    np.testing.assert_allclose(first.command, np.array(measured) + rig.limits.max_step)
    rig.check_report_invariants()


def test_disarmed_executor_commands_nothing_until_lifecycle_activate_arms_it(make_rig):
    measured = [0.1, 0.2, -0.1, 0.0, 0.3, 0.4]
    rig = make_rig(
        strategy="vlash",
        policy_timeout_s=0.0,
        command_interface="joint_state",  # stamped commands pair with the reports
        start_armed=False,
        measured=measured,
    )
    rig.send(rig.chunk(1, rig.latest_step + 2, FAR))
    rig.arrival_step(1)
    rig.graph.spin_until(
        lambda: rig.intended and list(rig.intended[-1].position) != measured,
        TICK_TIMEOUT_S,
        "intended command of the chunk",
    )
    rig.wait_ticks(10)
    assert rig.commands == [], f"disarmed, yet {len(rig.commands)} commands were published"
    assert all(m.holding and not m.steps for m in rig.feedback), "disarmed reports executions"
    # What it would command: one step from the measured position toward the chunk's target.
    intended = np.array(rig.intended[-1].position)
    np.testing.assert_allclose(intended, np.array(measured) + rig.limits.max_step)

    rig.change_state(Transition.TRANSITION_ACTIVATE)
    rig.graph.spin_until(lambda: len(rig.commands) >= 10, TICK_TIMEOUT_S, "commands once armed")
    commands = np.array([c.position for c in rig.commands])
    _assert_moves_from(rig, commands, measured)
    entries = rig.entries(1)
    assert entries, "armed, but the chunk never executed"
    np.testing.assert_allclose(entries[0].command, np.array(measured) + rig.limits.max_step)

    rig.change_state(Transition.TRANSITION_DEACTIVATE)
    count = len(rig.commands)
    rig.wait_ticks(15)
    last_stamp = stamp_ns(rig.commands[-1].header.stamp)
    after = [m for m in rig.feedback if stamp_ns(m.header.stamp) > last_stamp]
    assert len(after) >= 15 and all(m.holding and not m.steps for m in after), (
        "the executor kept executing after deactivate"
    )
    assert len(rig.commands) - count <= 2, "commands kept coming after deactivate"
    rig.check_report_invariants()


def test_joint_states_that_stop_make_the_executor_hold_and_say_so(make_rig):
    timeout_s = 0.5
    rig = make_rig(strategy="vlash", policy_timeout_s=0.0, joint_state_timeout_s=timeout_s)
    slow = _ramp(200, 0.0, 0.002)
    rig.send(rig.chunk(1, rig.latest_step + 2, slow))
    arrival = rig.arrival_step(1)
    rig.wait_step(arrival + 5)
    rig.measured = None  # the driver stops
    stopped = rig.latest_step
    rig.wait_log("holding: measured joint positions stopped arriving")
    reported = rig.latest_step  # the executor held before it said so
    rig.wait_ticks(10)
    held = [m for m in rig.feedback if m.step > reported]
    assert all(m.holding and not m.steps for m in held), "kept executing without joint states"
    # It held within the timeout (plus the rig's 0.1 s publishing period and a tick or two).
    last_executed = rig.entries(1)[-1].step
    assert last_executed <= stopped + round((timeout_s + 0.1) / rig.period) + 3, (
        f"executed until step {last_executed}, joint states stopped after step {stopped}"
    )
    rig.measured = [float(x) for x in rig.entries(1)[-1].command]  # the driver is back
    resumed = rig.latest_step
    rig.graph.spin_until(
        lambda: any(e.step > resumed for e in rig.entries(1)), TICK_TIMEOUT_S, "resumed"
    )
    rig.wait_log("resumed after holding: measured joint positions stopped arriving")
    commands = np.array([m.data for m in rig.commands])
    assert np.all(np.abs(np.diff(commands, axis=0)) <= rig.limits.max_step * (1 + 1e-9))
    rig.check_report_invariants()
