"""Convert recorded rosbag2 bags into a LeRobot v3.0 dataset.

``python -m vlash_policy.data.convert_bag BAG_DIR [BAG_DIR ...] OUT_DIR [--instruction TEXT]``

Every bag the suite records converts with the defaults: ``scripts/vlash_launch.py --record``
(with or without ``--namespace``) and ``ros2 bag record`` of the launch file's topics.

**Topics** come from the bag's own topic list. The executor's reports are its one
``vlash_msgs/msg/ExecutedActions`` topic, whose namespace (``/arm1`` for
``/arm1/vlash/executed_actions``) is the run's; the joint states are ``<namespace>/joint_states``;
the cameras are the bag's ``sensor_msgs/Image`` and ``CompressedImage`` topics that hold
messages. The dataset names the cameras after those of the checkpoint it is meant to fine-tune
(``--camera-names``; default: the embedded checkpoint's), in topic order, the way the policy
node's ``image_topics`` parameter maps topics onto the model's cameras.

**Steps** are the executor's. An observation is labelled with the executor step it precedes
exactly as the deployed policy labels it,
:meth:`vlash_policy.inference_planner.StepClock.source_step` (the one statement of the
convention): a message stamped between the executor's ticks of steps ``t-1`` and ``t`` shows
the robot before the command of step ``t``. So ``o_t`` and ``s_t`` are, per topic, the last
message stamped before the tick of step ``t``, and ``a_t`` is the command the executor reported
for step ``t`` (a holding step repeats the previous command): the ``(o_t, s_t, a_t)`` convention
of :mod:`vlash_policy.data.episode`. One bag is one episode unless it has gaps.

**Gaps.** A topic slower than the executor (e.g. a loaded simulator) leaves steps without a
message of their own; such a step reuses the topic's previous message while that is at most
``--max-stale-steps`` steps old. Beyond that, or where the bag lacks the executor's report of a
step, the step is a gap: it is skipped and the episode is cut there, each piece becoming an
episode of its own (pieces shorter than ``--min-episode-steps`` are dropped). Steps before the
first executed command (the policy still loading) and after the last are trimmed. Each bag ends
with a summary: what was used, trimmed and skipped, and which topic fell short of the
executor's rate.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vlash_core.action_space import ActionSpace
from vlash_core.conversions import executed_actions_arrays
from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.stamps import stamp_seconds
from vlash_policy.checkpoint_preflight import CheckpointError, preflight_checkpoint
from vlash_policy.data.episode import Episode
from vlash_policy.data.lerobot_v3 import write_lerobot_dataset
from vlash_policy.inference_planner import StepClock
from vlash_policy.recording.bag_io import (
    DEFAULT_TOPICS,
    EXECUTED_ACTIONS_TOPIC,
    IMAGE_TYPES,
    JOINT_STATES_TOPIC,
    BagInfo,
    image_rgb,
    namespace_of,
    read_bag_info,
    read_messages,
)

EXECUTED_TYPE = DEFAULT_TOPICS[EXECUTED_ACTIONS_TOPIC]
JOINT_STATE_TYPE = DEFAULT_TOPICS[JOINT_STATES_TOPIC]
DEFAULT_MAX_STALE_STEPS = 3
DEFAULT_MIN_EPISODE_STEPS = 16
# A topic below this fraction of the executor's rate is named in the summary.
_SHORT_RATE_FRACTION = 0.95


@dataclass(frozen=True)
class BagTopics:
    """The topics one conversion reads."""

    namespace: str
    """The run's namespace ("" for a global launch), from the executor's report topic."""
    executed: str
    joint_states: str
    cameras: tuple[str, ...]


def discover_topics(
    info: BagInfo,
    *,
    camera_count: int,
    joint_states_topic: str | None = None,
    camera_topics: Sequence[str] | None = None,
) -> BagTopics:
    """The executor, joint-state and camera topics of the bag (see the module docstring)."""
    executed = info.one_of_type(EXECUTED_TYPE, "the executor's reports")
    namespace = namespace_of(executed, EXECUTED_ACTIONS_TOPIC)
    joint_states = joint_states_topic or f"{namespace}/{JOINT_STATES_TOPIC}"
    if joint_states not in info.topics or info.topics[joint_states].msgtype != JOINT_STATE_TYPE:
        raise ValueError(
            f"bag {info.path} has no {JOINT_STATE_TYPE} topic {joint_states} next to the "
            f"executor's {executed}; its JointState topics are {info.of_type(JOINT_STATE_TYPE)} "
            "(choose one with --joint-states-topic)"
        )
    image_topics = [t for msgtype in IMAGE_TYPES for t in info.of_type(msgtype)]
    for topic in camera_topics or ():
        if topic not in image_topics:
            raise ValueError(
                f"--camera-topic {topic} is not an image topic of bag {info.path}; its image "
                f"topics are {sorted(image_topics)}"
            )
    cameras = list(camera_topics or info.image_topics())
    if not cameras:
        raise ValueError(
            f"bag {info.path} has no camera images: its image topics {sorted(image_topics)} "
            "hold no messages"
        )
    if len(cameras) != camera_count:
        raise ValueError(
            f"bag {info.path} has {len(cameras)} camera topics with images {cameras} but the "
            f"dataset has {camera_count} cameras (--camera-names); pick the topics with "
            "--camera-topic, in camera order"
        )
    for topic in (executed, joint_states, *cameras):
        if info.topics[topic].count == 0:
            raise ValueError(f"bag {info.path}: {topic} has no messages")
    return BagTopics(namespace, executed, joint_states, tuple(cameras))


@dataclass
class _Stream:
    """One topic's messages in stamp order, each labelled with the executor step it precedes."""

    topic: str
    stamps: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def sort(self) -> None:
        order = sorted(range(len(self.stamps)), key=self.stamps.__getitem__)
        self.stamps = [self.stamps[i] for i in order]
        self.values = [self.values[i] for i in order]

    def label(self, clock: StepClock, first_tick_s: float) -> None:
        # Before the first tick no step is known (-inf: never usable); after the last one the
        # message precedes no recorded step (+inf: never chosen).
        steps = [clock.source_step(s) for s in self.stamps]
        self.labels = np.array(
            [
                float(n) if n is not None else (-np.inf if s < first_tick_s else np.inf)
                for n, s in zip(steps, self.stamps, strict=True)
            ]
        )

    def at(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per step: index of the topic's last message before its tick (-1: none) and its age."""
        index = np.searchsorted(self.labels, steps, side="right") - 1
        age = np.where(index >= 0, steps - self.labels[np.maximum(index, 0)], np.inf)
        return index, age

    def rate_hz(self) -> float | None:
        span = self.stamps[-1] - self.stamps[0] if len(self.stamps) > 1 else 0.0
        return (len(self.stamps) - 1) / span if span > 0 else None


@dataclass(frozen=True)
class StepRange:
    first: int
    last: int
    reason: str = ""

    @property
    def steps(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        where = (
            f"step {self.first}" if self.first == self.last else f"steps {self.first}-{self.last}"
        )
        return f"{where}: {self.reason}" if self.reason else where


@dataclass(frozen=True)
class Conversion:
    """The episodes of one bag and how they were cut from it (see :meth:`summary`)."""

    bag: Path
    topics: BagTopics
    episodes: list[Episode]
    episode_steps: list[StepRange]
    first_step: int
    last_step: int
    trimmed_start: int
    trimmed_end: int
    gaps: list[StepRange]
    dropped: list[StepRange]
    stale_steps: dict[str, int]
    max_stale_steps: int
    rates_hz: dict[str, float | None]
    executor_rate_hz: float | None

    def summary(self) -> str:
        total = self.last_step - self.first_step + 1
        used = sum(r.steps for r in self.episode_steps)
        ns = self.topics.namespace or "/"
        lines = [
            f"{self.bag} (namespace {ns}): executor steps {self.first_step}-{self.last_step} "
            f"({total}), {used} used as {len(self.episodes)} episode(s) "
            f"[{', '.join(str(r) for r in self.episode_steps) or 'none'}]",
            f"  trimmed {self.trimmed_start} steps at the start (no executed command yet: the "
            f"policy loading; or no observation) and {self.trimmed_end} at the end",
        ]
        if self.gaps:
            lines.append(f"  skipped {len(self.gaps)} gap(s): " + "; ".join(map(str, self.gaps)))
        if self.dropped:
            lines.append(
                f"  dropped {len(self.dropped)} piece(s) shorter than --min-episode-steps: "
                + ", ".join(map(str, self.dropped))
            )
        executor = self.executor_rate_hz
        for topic, rate in self.rates_hz.items():
            stale = self.stale_steps.get(topic, 0)
            if executor and rate is not None and rate < _SHORT_RATE_FRACTION * executor:
                lines.append(
                    f"  {topic} ran at {rate:.1f} Hz, short of the executor's {executor:.1f} Hz: "
                    f"{stale} of the steps used reuse an older message (at most "
                    f"{self.max_stale_steps} steps old, --max-stale-steps)"
                )
        return "\n".join(lines)


def _decode(topic: str, msgtype: str, message: Any) -> Any:
    if msgtype == EXECUTED_TYPE:
        return message
    if msgtype == JOINT_STATE_TYPE:
        positions = np.asarray(message.position, dtype=np.float64)
        if positions.size != len(message.name):
            raise ValueError(
                f"{topic}: a JointState has {positions.size} positions for {len(message.name)} "
                "names"
            )
        return dict(zip(message.name, positions.tolist(), strict=True))
    return image_rgb(msgtype, message)


def _read_streams(bag: Path, info: BagInfo, topics: BagTopics) -> dict[str, _Stream]:
    names = [topics.executed, topics.joint_states, *topics.cameras]
    streams = {name: _Stream(name) for name in names}
    total = sum(info.topics[name].count for name in names)
    messages = tqdm(
        read_messages(bag, names), total=total, desc=f"reading {bag.name}", unit="msg", leave=False
    )
    for item in messages:
        stream = streams[item.topic]
        stream.stamps.append(stamp_seconds(item.message.header.stamp))
        stream.values.append(_decode(item.topic, item.msgtype, item.message))
    for stream in streams.values():
        stream.sort()
    return streams


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def convert_bag(
    bag: str | Path,
    *,
    instruction: str,
    camera_names: Sequence[str],
    joint_states_topic: str | None = None,
    camera_topics: Sequence[str] | None = None,
    max_stale_steps: int = DEFAULT_MAX_STALE_STEPS,
    min_episode_steps: int = DEFAULT_MIN_EPISODE_STEPS,
) -> Conversion:
    """The episodes of one bag; see the module docstring for the rules.

    Raises ValueError naming the topic that is missing, empty or short of what a step needs
    when no episode remains.
    """
    if max_stale_steps < 0:
        raise ValueError(f"max_stale_steps must be >= 0, got {max_stale_steps}")
    if min_episode_steps < 1:
        raise ValueError(f"min_episode_steps must be >= 1, got {min_episode_steps}")
    bag = Path(bag)
    info = read_bag_info(bag)
    topics = discover_topics(
        info,
        camera_count=len(camera_names),
        joint_states_topic=joint_states_topic,
        camera_topics=camera_topics,
    )
    streams = _read_streams(bag, info, topics)

    reports = sorted(streams[topics.executed].values, key=lambda m: int(m.step))
    joint_names = list(reports[0].joint_names)
    periods = [float(m.control_period) for m in reports if m.control_period > 0]
    if not periods:
        raise ValueError(f"{topics.executed}: no report carries a control_period > 0")
    period = float(np.median(periods))
    clock = StepClock(capacity=max(2, len(reports)))
    ticks: dict[int, float] = {}
    commands: dict[int, np.ndarray] = {}
    for msg in reports:
        if list(msg.joint_names) != joint_names:
            raise ValueError(
                f"{topics.executed}: joint_names change from {joint_names} to "
                f"{list(msg.joint_names)} at step {msg.step}"
            )
        stamp = stamp_seconds(msg.header.stamp)
        clock.add_tick(stamp, int(msg.step))
        ticks.setdefault(int(msg.step), stamp)
        arrays = executed_actions_arrays(msg)
        for step, row in zip(arrays.steps.tolist(), arrays.commanded, strict=True):
            commands[int(step)] = row
    if not commands:
        raise ValueError(
            f"{topics.executed}: the executor never executed an action ({len(reports)} reports, "
            "all holding): no chunk reached it, or it was disarmed (see the executor's and the "
            "policy's logs)"
        )
    joint_stream = streams[topics.joint_states]
    lacking = [n for n in joint_names if n not in joint_stream.values[0]]
    if lacking:
        raise ValueError(
            f"{topics.joint_states} lacks the executed joints {lacking} (it has "
            f"{sorted(joint_stream.values[0])})"
        )
    observed = [joint_stream, *(streams[c] for c in topics.cameras)]
    first_tick = min(ticks.values())
    for stream in observed:
        stream.label(clock, first_tick)

    first, last = min(commands), max(commands)
    steps = np.arange(first, last + 1)
    usable = np.array([int(s) in ticks for s in steps])
    reasons = np.where(usable, "", "the bag lacks the executor's report of the step").astype(object)
    picks: dict[str, np.ndarray] = {}
    stale: dict[str, np.ndarray] = {}
    too_old_counts: dict[str, int] = {}
    for stream in observed:
        index, age = stream.at(steps)
        too_old = age > max_stale_steps
        for i in np.flatnonzero(usable & too_old):
            old = "" if np.isinf(age[i]) else f" (the last is {age[i]:.0f} steps old)"
            reasons[i] = f"{stream.topic} has no message within {max_stale_steps} steps{old}"
        usable &= ~too_old
        picks[stream.topic], stale[stream.topic] = index, age > 0
        too_old_counts[stream.topic] = int(np.sum(too_old))

    actions, last_command = [], commands[first]
    for step in steps.tolist():
        last_command = commands.get(step, last_command)  # holding repeats the previous command
        actions.append(last_command)

    runs = _runs(usable)
    if not runs:
        counts = ", ".join(f"{t} at {n}" for t, n in too_old_counts.items())
        raise ValueError(
            f"bag {bag}: none of the executor steps {first}-{last} has every observation within "
            f"{max_stale_steps} steps (a topic lacks one at: {counts} of {len(steps)} steps)"
        )
    trimmed_start, trimmed_end = int(runs[0][0]), int(len(steps) - runs[-1][1])
    gaps = [
        StepRange(int(steps[a]), int(steps[b - 1]), str(reasons[a]))
        for (_, a), (b, _) in itertools.pairwise(runs)
    ]
    episodes, kept, dropped = [], [], []
    cams = dict(zip(topics.cameras, camera_names, strict=True))
    for a, b in runs:
        piece = StepRange(int(steps[a]), int(steps[b - 1]))
        if piece.steps < min_episode_steps:
            dropped.append(piece)
            continue
        kept.append(piece)
        states = joint_stream.values
        episodes.append(
            Episode(
                images={
                    cams[t]: np.stack([streams[t].values[i] for i in picks[t][a:b]])
                    for t in topics.cameras
                },
                states=np.array(
                    [[states[i][n] for n in joint_names] for i in picks[topics.joint_states][a:b]]
                ),
                actions=np.stack(actions[a:b]),
                instruction=instruction,
                fps=1.0 / period,
                action_space=ActionSpace.ABSOLUTE,
                joint_names=joint_names,
            )
        )
    used = np.zeros(len(steps), dtype=bool)
    for piece in kept:
        used[piece.first - first : piece.last - first + 1] = True
    report_span = max(ticks.values()) - first_tick
    return Conversion(
        bag=bag,
        topics=topics,
        episodes=episodes,
        episode_steps=kept,
        first_step=int(min(ticks)),
        last_step=int(max(ticks)),
        trimmed_start=trimmed_start + first - int(min(ticks)),
        trimmed_end=trimmed_end + int(max(ticks)) - last,
        gaps=gaps,
        dropped=dropped,
        stale_steps={t: int(np.sum(stale[t] & used)) for t in stale},
        max_stale_steps=max_stale_steps,
        rates_hz={s.topic: s.rate_hz() for s in observed},
        executor_rate_hz=(len(ticks) - 1) / report_span if report_span > 0 else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlash_policy.data.convert_bag", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("paths", nargs="+", help="BAG_DIR [BAG_DIR ...] OUT_DIR")
    parser.add_argument(
        "--instruction",
        default=TASK_INSTRUCTION,
        help="language instruction of the task (default: the policy node's default instruction)",
    )
    parser.add_argument(
        "--camera-names",
        nargs="+",
        default=None,
        help="dataset camera names, one per camera topic (default: the embedded checkpoint's)",
    )
    parser.add_argument(
        "--camera-topic",
        action="append",
        dest="camera_topics",
        help="camera topic, in camera order (repeat; default: every image topic with messages)",
    )
    parser.add_argument(
        "--joint-states-topic", default=None, help="default: <namespace>/joint_states"
    )
    parser.add_argument(
        "--max-stale-steps",
        type=int,
        default=DEFAULT_MAX_STALE_STEPS,
        help=f"oldest observation a step may reuse, in steps (default {DEFAULT_MAX_STALE_STEPS})",
    )
    parser.add_argument(
        "--min-episode-steps",
        type=int,
        default=DEFAULT_MIN_EPISODE_STEPS,
        help=f"drop pieces between gaps shorter than this (default {DEFAULT_MIN_EPISODE_STEPS})",
    )
    parser.add_argument("--robot-type", default=None)
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("need at least one BAG_DIR and an OUT_DIR")
    *bags, out = args.paths
    if Path(out).exists():
        parser.error(f"OUT_DIR {out} exists already; the converter never overwrites a dataset")
    try:
        camera_names = args.camera_names or list(preflight_checkpoint(None).camera_names)
    except CheckpointError as error:
        parser.error(f"--camera-names not given and the embedded checkpoint is unusable: {error}")
    episodes: list[Episode] = []
    converted = 0
    for bag in bags:
        try:
            conversion = convert_bag(
                bag,
                instruction=args.instruction,
                camera_names=camera_names,
                joint_states_topic=args.joint_states_topic,
                camera_topics=args.camera_topics,
                max_stale_steps=args.max_stale_steps,
                min_episode_steps=args.min_episode_steps,
            )
        except (FileNotFoundError, ValueError) as error:  # one unusable bag spoils no other
            print(f"convert_bag: skipped {bag}: {error}", file=sys.stderr, flush=True)
            continue
        print(conversion.summary(), flush=True)
        episodes += conversion.episodes
        converted += bool(conversion.episodes)
    if not episodes:
        print(f"convert_bag: no episode of at least {args.min_episode_steps} steps in {bags}; "
              "nothing written", file=sys.stderr)  # fmt: skip
        return 1
    write_lerobot_dataset(episodes, out, robot_type=args.robot_type)
    frames = sum(e.length for e in episodes)
    print(
        f"wrote {len(episodes)} episode(s), {frames} frames, cameras {camera_names} to {out} "
        f"(from {converted} of {len(bags)} bag(s))"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
