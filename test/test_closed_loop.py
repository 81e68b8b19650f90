"""The whole VLASH loop as real processes over DDS, checked step by step and against its bag.

Simulated SO-101 (MuJoCo) -> joint states + camera -> policy (tiny random checkpoint, vlash
strategy) -> action chunks -> executor -> joint commands -> simulated arm, with the recorder
writing every topic into an MCAP bag. This process subscribes to the same topics. All checks are
exact step arithmetic on what the nodes reported (VLASH Sec. 3-4.1), never wall-clock timing:

- one joint command per executor tick: the command sequence rebuilt from the executor's reports
  appears, contiguous and complete, in the command stream;
- every chunk runs action i at ``start_step + i`` (VLASH's step-exact placement at ``t + Δ``), and
  the actions whose step had passed when it arrived are exactly the ones counted as dropped;
- each RolledState predicts ``target_step = measured_step + Δ`` of its chunk, the actions it
  reports as executed are those the executor reported for those steps, and its rolled state is
  exactly the position the executor commanded at ``target_step - 1``, with a velocity limit low
  enough that the executor clamps the random chunks (the roll-forward replays the limits the
  executor reports, not a copy);
- the bag holds every published message (see :func:`_check_bag` for why the count is exact), and
  ``check_rollforward`` finds every rolled state in it equal to the executor's commands.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader

from vlash_bringup.node_graph import NodeGraph
from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.stamps import stamp_ns
from vlash_msgs.msg import ActionChunk, ExecutedActions, RolledState
from vlash_policy.recording.bag_io import (
    ACTION_CHUNK_TOPIC,
    CAMERA_TOPIC,
    EXECUTED_ACTIONS_TOPIC,
    FORWARD_COMMANDS_TOPIC,
    JOINT_STATES_TOPIC,
    ROLLED_STATE_TOPIC,
    TASK_EVENTS_TOPIC,
    metadata_topic_counts,
    qualified_topics,
)
from vlash_policy.recording.check_rollforward import NO_COMMAND_YET, check_rolled_states
from vlash_policy.recording.recorder_node import message_class

pytest_plugins = ("checkpoints",)

RATE_HZ = 30.0
# Control ticks the loop runs after the first chunk: 20 s at 30 Hz (counted, not timed).
RUN_TICKS = 600
HORIZON = 16  # the tiny checkpoint's chunk length (VLAConfig default)
# Low enough that the random chunks' targets (about 0.1 rad apart) exceed it most ticks.
MAX_JOINT_VELOCITY = 0.6  # rad/s: 0.02 rad per tick at 30 Hz
KEEP_ALL = QoSProfile(depth=100_000, reliability=ReliabilityPolicy.RELIABLE)
COMMANDS = f"/{FORWARD_COMMANDS_TOPIC}"
RECORDED = qualified_topics(
    (
        JOINT_STATES_TOPIC,
        CAMERA_TOPIC,
        TASK_EVENTS_TOPIC,
        FORWARD_COMMANDS_TOPIC,
        EXECUTED_ACTIONS_TOPIC,
        ACTION_CHUNK_TOPIC,
        ROLLED_STATE_TOPIC,
    )
)
# Bounded waits (the policy needs about 10 s to import torch and load; more under load).
START_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 120.0


def _decode(raws: Sequence[bytes], topic: str) -> list:
    cls = message_class(RECORDED[topic])
    return [deserialize_message(raw, cls) for raw in raws]


def _bag_streams(bag: Path) -> dict[str, list[bytes]]:
    """Raw CDR messages per topic, in the order the recorder received them."""
    streams: dict[str, list[bytes]] = {topic: [] for topic in RECORDED}
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            streams[connection.topic].append(bytes(raw))
    return streams


def _order_key(topic: str) -> Callable[[bytes], tuple]:
    """The publisher's own order of a message: its counter, else its stamp (raw as tie-break).

    Receive order can differ from send order for a sample DDS repairs while discovery completes
    (seen in test_recorder_ros), so streams are compared in publisher order.
    """
    cls = message_class(RECORDED[topic])

    def key(raw: bytes) -> tuple:
        msg = deserialize_message(raw, cls)
        if isinstance(msg, ExecutedActions):
            return (msg.step, raw)
        if isinstance(msg, ActionChunk):
            return (msg.chunk_id, raw)
        return (stamp_ns(msg.header.stamp), raw)

    return key


class Loop:
    """Everything this process received, decoded."""

    def __init__(self, streams: dict[str, list[bytes]]) -> None:
        self.chunks = {
            c.chunk_id: c for c in _decode(streams["/vlash/action_chunk"], "/vlash/action_chunk")
        }
        self.rolled: list[RolledState] = _decode(
            streams["/vlash/rolled_state"], "/vlash/rolled_state"
        )
        self.feedback: list[ExecutedActions] = sorted(
            _decode(streams["/vlash/executed_actions"], "/vlash/executed_actions"),
            key=lambda m: m.step,
        )
        self.commands = [np.asarray(m.data) for m in _decode(streams[COMMANDS], COMMANDS)]


def _entries(feedback: Sequence[ExecutedActions]) -> dict[int, tuple[int, int, np.ndarray]]:
    """Executed step -> (chunk id, action index, commanded positions) from the reports."""
    out = {}
    for msg in feedback:
        rows = np.asarray(msg.commanded_positions).reshape(-1, len(msg.joint_names))
        for step, chunk_id, index, row in zip(
            msg.steps, msg.chunk_ids, msg.indices, rows, strict=True
        ):
            assert step not in out, f"step {step} executed twice"
            out[int(step)] = (int(chunk_id), int(index), row)
    return out


def _held_after(feedback: Sequence[ExecutedActions]) -> dict[int, np.ndarray | None]:
    """Step -> the command the executor reported holding after it (None: no joint state yet).

    On a step that executed an action it must be that action's command: the report's two
    fields cannot disagree.
    """
    entries = _entries(feedback)
    held = {}
    for msg in feedback:
        values = np.asarray(msg.command_in_force, dtype=np.float64)
        held[msg.step] = values if values.size else None
        if msg.step in entries:
            np.testing.assert_array_equal(values, entries[msg.step][2], err_msg=f"step {msg.step}")
    return held


def _expected_commands(feedback: Sequence[ExecutedActions]) -> tuple[int, np.ndarray]:
    """(first step, the command of every tick from the first executed action to the last report).

    A tick either executes an action (its command is reported) or holds the previous command.
    """
    entries = _entries(feedback)
    first = min(entries)
    rows = []
    for msg in feedback:
        if msg.step < first:
            continue
        rows.append(entries[msg.step][2] if msg.step in entries else rows[-1])
    return first, np.array(rows)


def _find_block(stream: Sequence[np.ndarray], block: np.ndarray) -> int:
    """Index where ``block`` occurs in ``stream`` as consecutive messages; -1 when it does not."""
    values = np.array(stream)
    for i in range(len(values) - len(block) + 1):
        if np.array_equal(values[i : i + len(block)], block):
            return i
    return -1


def _check_consecutive_reports(feedback: Sequence[ExecutedActions], source: str) -> None:
    steps = [m.step for m in feedback]
    assert steps == list(range(steps[0], steps[0] + len(steps))), (
        f"{source}: executor reports skip or repeat steps between {steps[0]} and {steps[-1]}"
    )
    for msg in feedback:
        assert list(msg.steps) == ([] if msg.holding else [msg.step]), (
            f"{source}: step {msg.step} holding={msg.holding} reports {list(msg.steps)}"
        )


def _check_switching(loop: Loop) -> None:
    """Chunk placement and dropped actions against the vlash definition (VLASH Sec. 3, 4.1)."""
    chunks, feedback = loop.chunks, loop.feedback
    ids = sorted(chunks)
    assert ids == list(range(1, len(ids) + 1)), f"chunk ids are not 1..N: {ids}"
    assert len(ids) >= 2, f"the loop produced {len(ids)} chunk(s): no chunk switch to check"
    for chunk in chunks.values():
        assert chunk.strategy == "vlash" and chunk.quantization == 1
        assert chunk.start_step == chunk.source_step + chunk.delay_steps, chunk
        assert chunk.horizon == HORIZON

    entries = _entries(feedback)
    for step, (chunk_id, index, _) in entries.items():
        assert chunk_id in chunks, f"step {step} executed chunk {chunk_id}, never published"
        start = chunks[chunk_id].start_step
        assert step == start + index, (
            f"chunk {chunk_id} (start_step {start}) ran action {index} at step {step}, "
            f"not at {start + index}"
        )

    # A report's running_chunk_id names the newest chunk accepted before its tick, so the first
    # report naming a chunk gives its arrival step; the executor then drops exactly the actions
    # whose steps had passed: min(H, arrival - start_step) (VlashStrategy.first_index).
    late: dict[int, int] = {}
    arrival: dict[int, int] = {}
    previous = feedback[0]
    assert previous.running_chunk_id == -1 and previous.dropped_actions == 0, previous
    for msg in feedback[1:]:
        arrived = [c for c in ids if previous.running_chunk_id < c <= msg.running_chunk_id]
        for chunk_id in arrived:
            late[chunk_id] = min(HORIZON, max(0, msg.step - chunks[chunk_id].start_step))
            arrival[chunk_id] = msg.step
        assert msg.dropped_actions - previous.dropped_actions == sum(late[c] for c in arrived), (
            f"step {msg.step}: dropped_actions went {previous.dropped_actions} -> "
            f"{msg.dropped_actions} as chunks {arrived} arrived (late actions "
            f"{[late[c] for c in arrived]})"
        )
        previous = msg
    assert sorted(late) == ids, f"chunks never accepted: {sorted(set(ids) - set(late))}"
    # Until the executor has a measured joint position it holds whatever is due (safe start),
    # so only chunks that arrived once it was commanding run every action from their first
    # on-time one; on a busy machine the arm's joint states can reach it seconds late.
    commanding_from = min(entries)
    for chunk_id in ids:
        ran = sorted(index for c, index, _ in entries.values() if c == chunk_id)
        if arrival[chunk_id] < commanding_from:
            continue
        if ran:  # a chunk replaced while it waited for its start never runs
            assert ran == list(range(late[chunk_id], ran[-1] + 1)), (
                f"chunk {chunk_id}: {late[chunk_id]} late actions, ran indices {ran}"
            )


def _check_rolled_states(loop: Loop) -> None:
    """Each RolledState is s_{t+Δ} for its chunk (VLASH Sec. 4.1): the executor's command at t+Δ-1.

    The command in force after ``target_step - 1``, as the executor reported it (its seed from
    the arm before its first command), must equal the rolled state within 1e-9 rad wherever the
    executor ran the window ``[t, t+Δ)`` as the policy planned it (a chunk that arrives late
    cannot be predicted). The policy infers nothing before the executor holds a command (the
    seed from the arm it could not know), so no target precedes it. The velocity limit
    must have bound a planned (not yet executed) step of some roll-forward window, or the check
    would not show that the policy replays it.
    """
    chunks = [loop.chunks[c] for c in sorted(loop.chunks)]
    assert len(loop.rolled) == len(chunks), (
        f"{len(loop.rolled)} rolled states for {len(chunks)} chunks"
    )
    entries = _entries(loop.feedback)
    held = _held_after(loop.feedback)
    max_step = np.asarray(loop.feedback[0].max_step_per_tick)
    np.testing.assert_allclose(max_step, MAX_JOINT_VELOCITY / RATE_HZ, rtol=1e-12)
    bound = 0
    # The policy publishes a chunk and then its rolled state, from one thread: they pair in order.
    for rolled, chunk in zip(loop.rolled, chunks, strict=True):
        assert rolled.header.stamp == chunk.header.stamp, chunk.chunk_id
        assert rolled.measured_step == chunk.source_step, chunk.chunk_id
        assert rolled.target_step == rolled.measured_step + chunk.delay_steps, chunk.chunk_id
        assert rolled.target_step == chunk.start_step, chunk.chunk_id
        # The actions of [t, t+Δ); hold steps (no chunk action known) are skipped, which is
        # exact for absolute targets (rollforward.gather_rollout_actions).
        steps = list(rolled.action_steps)
        assert steps == sorted(set(steps)), steps
        assert all(rolled.measured_step <= s < rolled.target_step for s in steps), steps
        for step, chunk_id, index, executed in zip(
            steps,
            rolled.action_chunk_ids,
            rolled.action_indices,
            rolled.action_executed,
            strict=True,
        ):
            if executed:
                assert entries.get(step, (None, None))[:2] == (chunk_id, index), (
                    f"rolled state of chunk {chunk.chunk_id} used chunk {chunk_id} action "
                    f"{index} as executed at step {step}; the executor reported "
                    f"{entries.get(step, 'holding')[:2]}"
                )
            elif (previous := held.get(step - 1)) is not None and _bound(
                loop, entries, previous, step, max_step
            ):
                bound += 1
    # The comparison itself is check_rollforward's, on what this process received. A chunk the
    # policy had sent that arrived after its start (its first actions dropped) makes the
    # executor hold where the plan moved: only windows run as planned must match.
    report = check_rolled_states(loop.rolled, loop.feedback, tolerance=1e-9)
    assert not report.mismatched, [
        (c.measured_step, c.target_step, c.error) for c in report.mismatched
    ]
    assert NO_COMMAND_YET not in report.not_checkable, dict(report.not_checkable)
    checked = len(report.checked)
    assert checked >= len(chunks) // 2, (
        f"only {checked} of {len(chunks)} rolled states checked: {dict(report.not_checkable)}"
    )
    assert bound, "the velocity limit never bound a planned step: the check shows nothing"


def _bound(
    loop: Loop,
    entries: dict[int, tuple[int, int, np.ndarray]],
    previous: np.ndarray,
    step: int,
    max_step: np.ndarray,
) -> bool:
    """Whether the step limit cut the command of ``step``: its absolute target is further away."""
    if step not in entries:
        return False
    chunk_id, index, _ = entries[step]
    chunk = loop.chunks[chunk_id]
    assert chunk.action_space == ActionChunk.ABSOLUTE and chunk.quantization == 1
    target = np.asarray(chunk.actions, dtype=np.float64).reshape(HORIZON, -1)[index]
    return bool(np.any(np.abs(target - previous) > max_step))


def _check_one_command_per_tick(loop: Loop, source: str) -> int:
    """Commands arrive at the control rate: exactly one per executor tick, in tick order.

    Returns where the rebuilt command sequence starts in the stream.
    """
    first, expected = _expected_commands(loop.feedback)
    at = _find_block(loop.commands, expected)
    assert at >= 0, (
        f"{source}: the {len(expected)} commands of steps {first}..{loop.feedback[-1].step} "
        f"(rebuilt from the executor reports) are not a contiguous run of the "
        f"{len(loop.commands)} commands received"
    )
    return at


def _check_bag(bag: Path, bag_streams: dict[str, list[bytes]], ours: dict[str, list[bytes]]):
    """The bag holds every message published on every recorded topic since it subscribed.

    Why the comparison is exact: the recorder and this process both subscribe RELIABLE with
    queues deeper than the run, subscribe before any publisher starts and stop only after every
    publisher has exited and the streams went quiet. Two such receivers of one publisher get the
    same messages except those published before each had discovered the publisher, so, in the
    publisher's order (its counter or stamp), one stream must be a suffix of the other: a message
    missing in the middle or at the end of either fails. The publishers' own counters then pin
    the bag down independently of this process: chunk ids count 1, 2, ... per published chunk,
    so the bag's ids must run without a gap up to the last chunk the executor accepted; report
    steps count executor ticks, so the bag's steps must be consecutive; and the bag's command
    stream must hold one command for each tick its own reports cover, the same ones this
    process received.
    """
    counts = metadata_topic_counts(bag)
    assert counts == {topic: len(raws) for topic, raws in bag_streams.items()}, counts
    for topic in RECORDED:
        assert bag_streams[topic] and ours[topic], (
            f"{topic}: bag has {len(bag_streams[topic])}, this process {len(ours[topic])}"
        )
        if topic == COMMANDS:  # no counter or stamp: checked tick by tick below
            continue
        theirs = sorted(bag_streams[topic], key=_order_key(topic))
        mine = sorted(ours[topic], key=_order_key(topic))
        shorter, longer = sorted((theirs, mine), key=len)
        assert longer[len(longer) - len(shorter) :] == shorter, (
            f"{topic}: the bag ({len(theirs)}) and this process ({len(mine)}) received "
            "different messages, not just a different start"
        )
    recorded = Loop(bag_streams)
    mine = Loop(ours)
    # Counters: chunk ids run without gaps up to the last chunk the executor accepted.
    last_chunk = max(m.running_chunk_id for m in mine.feedback)
    first_chunk = min(recorded.chunks)
    assert sorted(recorded.chunks) == list(range(first_chunk, last_chunk + 1))
    _check_consecutive_reports(recorded.feedback, "bag")
    bag_at = _check_one_command_per_tick(recorded, "bag")
    my_at = _find_block(mine.commands, _expected_commands(recorded.feedback)[1])
    # From the first rebuilt tick on, both received the identical command sequence.
    assert my_at >= 0
    assert [c.tolist() for c in recorded.commands[bag_at:]] == [
        c.tolist() for c in mine.commands[my_at:]
    ], "the bag's commands differ from those this process received"


def _start_recorder(graph: NodeGraph, bag: Path):
    specs = ", ".join(f"'{topic}:{msgtype}'" for topic, msgtype in RECORDED.items())
    cmd = [sys.executable, "-m", "vlash_policy.recording.recorder_node", "--ros-args"]
    cmd += ["-p", f"output_dir:={bag}", "-p", f"topics:=[{specs}]", "-p", "qos_depth:=100000"]
    return graph.processes.start("recorder", cmd, graph.env)


def _quiet(graph: NodeGraph, streams: dict[str, list[bytes]], what: str) -> None:
    """Spin until no message arrived for 2 s (bounded): what was sent has been received."""
    total = lambda: sum(len(s) for s in streams.values())  # noqa: E731
    last = [total(), 0]

    def settled() -> bool:
        last[1] += 1
        if total() != last[0]:
            last[:] = [total(), 0]
        return last[1] >= 40  # 40 empty spin slices of 50 ms

    graph.spin_until(settled, 30.0, what)


def _run_closed_loop(ros_graph, tmp_path: Path, policy_args: Sequence[str]) -> tuple[Loop, dict]:
    """The loop of the module docstring with the policy started on ``policy_args``, checked."""
    node = ros_graph.node
    ours: dict[str, list[bytes]] = {topic: [] for topic in RECORDED}
    for topic, msgtype in RECORDED.items():
        node.create_subscription(
            message_class(msgtype), topic, ours[topic].append, KEEP_ALL, raw=True
        )
    bag = tmp_path / "bag"
    recorder = _start_recorder(ros_graph, bag)
    ros_graph.spin_until(
        lambda: all(node.count_subscribers(topic) >= 2 for topic in RECORDED),
        START_TIMEOUT_S,
        "recorder subscribed to every topic",
    )

    # The policy first: it publishes nothing before the executor reports, so once this process
    # has discovered its publishers it receives every chunk and rolled state from the first on.
    # (Discovery of a publisher created late in a process took up to ~3 s here; started last,
    # the policy's first chunks once reached the executor but neither receiver.)
    policy_args = ["-p", "strategy:=vlash", *policy_args]
    policy = ros_graph.start_node(
        "vlash_policy",
        "policy_node",
        ["--ros-args", "-r", "__node:=policy", *policy_args],
        "policy",
    )
    ros_graph.spin_until(
        lambda: (
            node.count_publishers("/vlash/action_chunk") > 0
            and node.count_publishers("/vlash/rolled_state") > 0
        ),
        START_TIMEOUT_S,
        "policy loaded and publishing chunks",
    )
    # Then the executor, and the arm only once this process gets the executor's reports: no
    # chunk can exist before the arm's first image, so every report from before the first chunk
    # on is received here.
    # Armed at start-up, as the sim profile starts it (a real arm's executor starts disarmed).
    executor_args = ["-p", "strategy:=vlash", "-p", f"control_rate_hz:={RATE_HZ}"]
    executor_args += ["-p", "start_armed:=true"]
    executor_args += ["-p", f"max_joint_velocity:={[MAX_JOINT_VELOCITY] * 6}"]
    executor = ros_graph.start_node(
        "vlash_executor",
        "executor_node",
        ["--ros-args", "-r", "__node:=executor", *executor_args],
        "executor",
    )
    reports = ours["/vlash/executed_actions"]
    ros_graph.spin_until(lambda: reports, START_TIMEOUT_S, "first executor report")
    sim = ros_graph.start_node(
        "vlash_sim", "sim_arm_node", ["--ros-args", "-r", "__node:=sim_arm"], "sim_arm"
    )
    ros_graph.spin_until(lambda: ours["/vlash/action_chunk"], START_TIMEOUT_S, "first chunk")
    first_chunk = deserialize_message(ours["/vlash/action_chunk"][0], ActionChunk)
    end_step = first_chunk.source_step + RUN_TICKS
    ros_graph.spin_until(
        lambda: deserialize_message(reports[-1], ExecutedActions).step >= end_step,
        RUN_TIMEOUT_S,
        f"executor report of step {end_step}",
    )

    # Publishers first (policy, then the executor holding without it, then the arm), then the
    # receivers once everything sent has arrived.
    for process in (policy, executor, sim):
        assert ros_graph.interrupt(process) == 0, f"{process.name}:\n{process.log_tail()}"
    _quiet(ros_graph, ours, "streams quiet after the publishers stopped")
    assert ros_graph.interrupt(recorder) == 0, recorder.log_tail()

    loop = Loop(ours)
    _check_consecutive_reports(loop.feedback, "this process")
    _check_switching(loop)
    _check_rolled_states(loop)
    _check_one_command_per_tick(loop, "this process")
    _check_bag(bag, _bag_streams(bag), ours)
    checker = subprocess.run(
        [sys.executable, "-m", "vlash_policy.recording.check_rollforward", str(bag)],
        env=ros_graph.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr
    assert "mismatched:     0" in checker.stdout, checker.stdout
    return loop, ours


def test_vlash_closed_loop_is_step_exact_and_fully_recorded(ros_graph, tmp_path, tiny_checkpoint):
    _run_closed_loop(ros_graph, tmp_path, ["-p", f"model_path:={tiny_checkpoint}"])


def test_lerobot_smolvla_runs_the_same_loop_and_publishes_lerobots_own_chunk(
    ros_graph, tmp_path, tiny_smolvla
):
    """A LeRobot checkpoint through the worker bridge: the same step-exact loop, and a published
    chunk is LeRobot's own ``predict_action_chunk`` on that chunk's observation with the rolled
    state in ``observation.state`` and the node's noise for that chunk (seed 0)."""
    loop, ours = _run_closed_loop(
        ros_graph,
        tmp_path,
        [
            *("-p", "backend:=lerobot", "-p", f"model_path:={tiny_smolvla.path}"),
            *("-p", f"lerobot_cameras:=front={tiny_smolvla.image_key}", "-p", "torch_threads:=1"),
        ],
    )
    # A chunk whose frame reached this process (the sim's first frames can reach the
    # policy before this process has discovered the camera publisher). The chunk carries its
    # observation's stamp through float seconds, so the frame is matched to within 1 ms.
    frames = {
        stamp_ns(m.header.stamp): m for m in _decode(ours[f"/{CAMERA_TOPIC}"], f"/{CAMERA_TOPIC}")
    }

    def frame_of(chunk: ActionChunk):
        nearest = min(frames, key=lambda ns: abs(ns - stamp_ns(chunk.header.stamp)))
        return frames[nearest] if abs(nearest - stamp_ns(chunk.header.stamp)) < 1e6 else None

    rolled_of = {r.measured_step: r for r in loop.rolled}
    # One conditioned on a rolled state that differs from the measured one, so the check also
    # shows which state reached observation.state.
    first = next(
        c
        for _, c in sorted(loop.chunks.items())
        if frame_of(c) is not None
        and not np.allclose(
            rolled_of[c.source_step].rolled_positions, rolled_of[c.source_step].measured_positions
        )
    )
    image, rolled = frame_of(first), rolled_of[first.source_step]
    direct = tiny_smolvla.direct_chunk(
        image=np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3),
        state=np.asarray(rolled.rolled_positions),
        task=TASK_INSTRUCTION,
        draw=first.chunk_id - 1,  # one noise per chunk, in chunk order (ids run 1..N)
        out_dir=tmp_path,
    )
    published = np.asarray(first.actions, np.float32).reshape(first.horizon, first.action_dim)
    np.testing.assert_allclose(published, direct, rtol=0, atol=1e-6)
