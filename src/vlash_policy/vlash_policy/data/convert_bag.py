"""Convert recorded rosbag2 (MCAP or sqlite3) bags into a LeRobot v3.0 dataset.

``python -m vlash_policy.data.convert_bag BAG_DIR [BAG_DIR ...] OUT_DIR [--instruction TEXT]``

One bag is one episode. The executed commands are the actions: every
``vlash_msgs/ExecutedActions`` message lists the ``(step, commanded_positions)`` the executor
really sent, so ``actions[k]`` is the command of executor step ``k`` (absolute joint targets; a
step without an entry, the executor holding, repeats the previous command). Each step is stamped
with the ``header.stamp`` of the ExecutedActions message of that step (steps in between are
placed ``control_period`` apart), and the camera frames (``sensor_msgs/Image``) and
``/joint_states`` nearest to that stamp within ``tolerance`` seconds become ``o_k`` and ``s_k``.
Steps at the start or end without a match are dropped; a gap inside the episode is an error.

Reading uses the pure-python ``rosbags`` library with the ``vlash_msgs`` definitions registered
from their ``.msg`` files, so no ROS installation is needed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vlash_policy.action_space import ActionSpace
from vlash_policy.data.episode import Episode
from vlash_policy.data.lerobot_v3 import write_lerobot_dataset
from vlash_policy.stamps import stamp_seconds

EXECUTED_TYPE = "vlash_msgs/msg/ExecutedActions"
IMAGE_TYPE = "sensor_msgs/msg/Image"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
DEFAULT_MSG_DIR = Path(__file__).resolve().parents[3] / "vlash_msgs" / "msg"


def vlash_typestore(msg_dir: str | Path = DEFAULT_MSG_DIR) -> Typestore:
    """ROS 2 Kilted typestore plus every ``vlash_msgs/msg/*.msg`` definition in ``msg_dir``."""
    msg_dir = Path(msg_dir)
    files = sorted(msg_dir.glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no .msg files in {msg_dir}; pass the vlash_msgs/msg directory")
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in files:
        types.update(get_types_from_msg(path.read_text(), f"vlash_msgs/msg/{path.stem}"))
    store.register(types)
    return store


def _image_array(msg: object) -> np.ndarray:
    enc = msg.encoding.lower()  # type: ignore[attr-defined]
    h, w, step = msg.height, msg.width, msg.step  # type: ignore[attr-defined]
    if enc not in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
        raise ValueError(f"image encoding {msg.encoding!r} is not supported (rgb8/bgr8/mono8)")  # type: ignore[attr-defined]
    channels = {"mono8": 1, "rgb8": 3, "bgr8": 3}.get(enc, 4)
    rows = np.asarray(msg.data, np.uint8).reshape(h, step)[:, : w * channels]  # type: ignore[attr-defined]
    img = rows.reshape(h, w, channels)
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    img = img[..., :3]
    return img[..., ::-1].copy() if enc.startswith("bgr") else img.copy()


def _camera_name(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", topic.strip("/")) or "camera"


def _nearest(times: np.ndarray, targets: np.ndarray, tolerance: float) -> np.ndarray:
    """Index of the nearest time for each target, -1 where none is within ``tolerance``."""
    if times.size == 0:
        return np.full(targets.shape, -1)
    pos = np.clip(np.searchsorted(times, targets), 1, max(times.size - 1, 1))
    left = np.clip(pos - 1, 0, times.size - 1)
    right = np.clip(pos, 0, times.size - 1)
    pick = np.where(np.abs(times[left] - targets) <= np.abs(times[right] - targets), left, right)
    return np.where(np.abs(times[pick] - targets) <= tolerance, pick, -1)


def bag_to_episode(
    bag_dir: str | Path,
    *,
    instruction: str,
    typestore: Typestore,
    camera_topics: Sequence[str] | None = None,
    joint_states_topic: str = "/joint_states",
    tolerance: float | None = None,
) -> Episode:
    """One episode from one bag; see the module docstring for the pairing rules."""
    commands: dict[int, np.ndarray] = {}
    step_stamps: dict[int, float] = {}
    periods: list[float] = []
    joint_names: list[str] | None = None
    frames: dict[str, list[tuple[float, np.ndarray]]] = {}
    states: list[tuple[float, dict[str, float]]] = []
    with Reader(bag_dir) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        if EXECUTED_TYPE not in topics.values():
            raise ValueError(f"bag {bag_dir} has no {EXECUTED_TYPE} topic; topics: {topics}")
        cams = list(camera_topics or sorted(t for t, ty in topics.items() if ty == IMAGE_TYPE))
        if not cams:
            raise ValueError(f"bag {bag_dir} has no {IMAGE_TYPE} topic; topics: {topics}")
        wanted = [c for c in reader.connections if c.topic in {*cams, joint_states_topic}]
        wanted += [c for c in reader.connections if c.msgtype == EXECUTED_TYPE]
        for conn, _, raw in reader.messages(connections=wanted):
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            if conn.msgtype == EXECUTED_TYPE:
                names = list(msg.joint_names)
                joint_names = joint_names or names
                if names and names != joint_names:
                    raise ValueError(f"joint_names changed within {bag_dir}: {names}")
                step_stamps[int(msg.step)] = stamp_seconds(msg.header.stamp)
                if msg.control_period > 0:
                    periods.append(float(msg.control_period))
                rows = np.asarray(msg.commanded_positions, np.float64)
                rows = rows.reshape(len(msg.steps), -1) if len(msg.steps) else rows[:0]
                for k, row in zip(msg.steps, rows, strict=True):
                    commands[int(k)] = row
            elif conn.topic == joint_states_topic:
                states.append(
                    (
                        stamp_seconds(msg.header.stamp),
                        dict(zip(msg.name, msg.position, strict=True)),
                    )
                )
            else:
                frames.setdefault(conn.topic, []).append(
                    (stamp_seconds(msg.header.stamp), _image_array(msg))
                )
    if not commands or joint_names is None:
        raise ValueError(f"bag {bag_dir} has no executed actions")
    period = float(np.median(periods)) if periods else None
    if period is None:
        raise ValueError(f"bag {bag_dir}: ExecutedActions carry no control_period > 0")
    tolerance = period / 2 if tolerance is None else tolerance

    steps = np.arange(min(commands), max(commands) + 1)
    known = np.array(sorted(step_stamps))
    ref = known[_nearest(known.astype(float), steps.astype(float), np.inf)]
    stamps = np.array([step_stamps[r] for r in ref]) + (steps - ref) * period
    actions, last = [], None
    for k in steps:
        last = commands.get(int(k), last)  # holding repeats the previous command
        actions.append(last)

    matches = {}
    for topic in cams:
        seq = sorted(frames.get(topic, []), key=lambda x: x[0])
        matches[topic] = (_nearest(np.array([s for s, _ in seq]), stamps, tolerance), seq)
    states.sort(key=lambda x: x[0])
    state_idx = _nearest(np.array([s for s, _ in states]), stamps, tolerance)
    ok = (state_idx >= 0) & np.all([m[0] >= 0 for m in matches.values()], axis=0)
    if not ok.any():
        raise ValueError(f"bag {bag_dir}: no step has a camera frame and joint state within "
                         f"{tolerance:.4f} s")  # fmt: skip
    first, stop = int(np.argmax(ok)), len(ok) - int(np.argmax(ok[::-1]))
    if not ok[first:stop].all():
        gap = int(steps[first + int(np.argmin(ok[first:stop]))])
        raise ValueError(f"bag {bag_dir}: step {gap} has no frame/state within {tolerance:.4f} s")
    keep = slice(first, stop)
    missing = [n for n in joint_names if n not in states[0][1]]
    if missing:
        raise ValueError(f"{joint_states_topic} lacks joints {missing} of the executed actions")
    return Episode(
        images={
            _camera_name(t): np.stack([seq[i][1] for i in idx[keep]])
            for t, (idx, seq) in matches.items()
        },
        states=np.array([[states[i][1][n] for n in joint_names] for i in state_idx[keep]]),
        actions=np.stack(actions[keep]),
        instruction=instruction,
        fps=1.0 / period,
        action_space=ActionSpace.ABSOLUTE,
        joint_names=joint_names,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="BAG_DIR [BAG_DIR ...] OUT_DIR")
    parser.add_argument("--instruction", required=True, help="language instruction of the task")
    parser.add_argument("--camera-topic", action="append", dest="camera_topics")
    parser.add_argument("--joint-states-topic", default="/joint_states")
    parser.add_argument("--tolerance", type=float, default=None, help="seconds (default T/2)")
    parser.add_argument("--msg-dir", default=str(DEFAULT_MSG_DIR))
    parser.add_argument("--robot-type", default=None)
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("need at least one BAG_DIR and an OUT_DIR")
    *bags, out = args.paths
    store = vlash_typestore(args.msg_dir)
    episodes = [
        bag_to_episode(
            bag,
            instruction=args.instruction,
            typestore=store,
            camera_topics=args.camera_topics,
            joint_states_topic=args.joint_states_topic,
            tolerance=args.tolerance,
        )
        for bag in bags
    ]
    write_lerobot_dataset(episodes, out, robot_type=args.robot_type)
    print(f"wrote {len(episodes)} episode(s), {sum(e.length for e in episodes)} frames to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
