"""ROS-free MCAP rosbag2 I/O for the suite's topics, on the maintained ``rosbags`` library.

The recorder node hands this module serialized CDR bytes straight from raw rclpy subscriptions
(no deserialize/serialize round trip); replay and the tests read bags back with ``rosbags``.
Custom ``vlash_msgs`` types are registered from their ``.msg`` text, so every bag carries the
full message definitions and RIHS01 type hashes: ``ros2 bag info``/``play`` on a real ROS install
(with vlash_msgs built and sourced) and ``mcap-ros2-support`` both read it.
"""

from __future__ import annotations

import array
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any

import numpy as np
import yaml
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vlash_policy.image_conversion import compressed_to_rgb, image_to_rgb

# rosbag2 metadata version 9 is what Jazzy/Kilted's rosbag2 writes and reads.
BAG_VERSION = 9
INTERFACE_PACKAGES: tuple[str, ...] = ("vlash_msgs",)

# Topics the suite publishes (see README), relative to the node's namespace; the recorder
# resolves them before writing.
JOINT_STATES_TOPIC = "joint_states"
CAMERA_TOPIC = "camera/image_raw"
TASK_EVENTS_TOPIC = "sim/task_events"
FORWARD_COMMANDS_TOPIC = "forward_position_controller/commands"
TRAJECTORY_COMMANDS_TOPIC = "joint_trajectory_controller/joint_trajectory"
JOINT_COMMAND_TOPIC = "joint_command"
EXECUTED_ACTIONS_TOPIC = "vlash/executed_actions"
ACTION_CHUNK_TOPIC = "vlash/action_chunk"
ROLLED_STATE_TOPIC = "vlash/rolled_state"
# What is recorded: topic -> ROS 2 message type (launch/graph.yaml's record_topics likewise).
DEFAULT_TOPICS: dict[str, str] = {
    JOINT_STATES_TOPIC: "sensor_msgs/msg/JointState",
    CAMERA_TOPIC: "sensor_msgs/msg/Image",
    TASK_EVENTS_TOPIC: "vlash_msgs/msg/TaskEvent",
    FORWARD_COMMANDS_TOPIC: "std_msgs/msg/Float64MultiArray",
    TRAJECTORY_COMMANDS_TOPIC: "trajectory_msgs/msg/JointTrajectory",
    JOINT_COMMAND_TOPIC: "sensor_msgs/msg/JointState",
    EXECUTED_ACTIONS_TOPIC: "vlash_msgs/msg/ExecutedActions",
    ACTION_CHUNK_TOPIC: "vlash_msgs/msg/ActionChunk",
    ROLLED_STATE_TOPIC: "vlash_msgs/msg/RolledState",
}

IMAGE_TYPES: tuple[str, ...] = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def qualified_topics(names: Iterable[str], namespace: str = "") -> dict[str, str]:
    """``{"<namespace>/<name>": type}`` of the suite's topics ``names`` (keys of DEFAULT_TOPICS)."""
    return {f"{namespace}/{name}": DEFAULT_TOPICS[name] for name in names}


_MSGTYPE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(?:msg/)?([A-Z][A-Za-z0-9]*)$")


def normalize_msgtype(msgtype: str) -> str:
    """``pkg/Type`` or ``pkg/msg/Type`` -> ``pkg/msg/Type`` (the rosbag2 spelling)."""
    match = _MSGTYPE.match(msgtype.strip())
    if match is None:
        raise ValueError(
            f"message type {msgtype!r} is not of the form 'package/msg/Type' or 'package/Type'"
        )
    return f"{match.group(1)}/msg/{match.group(2)}"


def parse_topic_specs(specs: Iterable[str]) -> dict[str, str]:
    """Parse ``"topic:package/msg/Type"`` strings into an ordered topic -> type mapping.

    Types are given explicitly rather than discovered on the graph: discovery is racy, and a
    recorder that starts before a publisher would otherwise miss the topic altogether.
    """
    topics: dict[str, str] = {}
    for spec in specs:
        topic, sep, msgtype = spec.partition(":")
        topic = topic.strip()
        if not sep or not topic:
            raise ValueError(f"topic spec {spec!r} must be 'topic:package/msg/Type'")
        if topic in topics:
            raise ValueError(f"topic {topic!r} is listed twice in the topic specs")
        topics[topic] = normalize_msgtype(msgtype)
    if not topics:
        raise ValueError("topic specs are empty; give at least one 'topic:package/msg/Type'")
    return topics


def find_interface_dir(package: str) -> Path:
    """Directory of ``package``'s ``.msg`` files: installed (ament prefixes) first, then source.

    The installed copy is the one the running nodes were built from; the source tree
    (``src/<package>/msg`` next to this package) serves un-built checkouts and ROS-free tests.
    """
    candidates = [
        Path(prefix) / "share" / package / "msg"
        for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
        if prefix
    ]
    candidates.append(Path(__file__).resolve().parents[3] / package / "msg")
    for candidate in candidates:
        if any(candidate.glob("*.msg")):
            return candidate
    raise FileNotFoundError(
        f"no .msg files of interface package {package!r} in {[str(c) for c in candidates]}"
    )


def msg_types_from_dir(package: str, msg_dir: Path) -> dict[str, Any]:
    """``rosbags`` type definitions of every ``<msg_dir>/*.msg`` as ``package/msg/<stem>``."""
    types: dict[str, Any] = {}
    files = sorted(Path(msg_dir).glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"{msg_dir} holds no .msg files of package {package!r}")
    for path in files:
        types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    return types


def make_typestore(
    packages: Mapping[str, Path] | None = None,
) -> Typestore:
    """Kilted's standard types plus the interface packages ``{name: msg_dir}``.

    By default the suite's own packages (:data:`INTERFACE_PACKAGES`) are located with
    :func:`find_interface_dir`.
    """
    if packages is None:
        packages = {name: find_interface_dir(name) for name in INTERFACE_PACKAGES}
    typestore = get_typestore(Stores.ROS2_KILTED)
    for name, msg_dir in packages.items():
        typestore.register(msg_types_from_dir(name, msg_dir))
    return typestore


def stale_types(typestore: Typestore, package: str, msg_dir: Path) -> dict[str, tuple[str, str]]:
    """Types of ``package`` whose RIHS01 hash differs from the built one: {type: (ours, built)}.

    A colcon build leaves rosidl's type descriptions (``<Type>.json``) next to the installed
    ``.msg`` files; with ``--symlink-install`` the ``.msg`` links to the source, so an edited but
    not rebuilt interface makes the bag's schema disagree with the bytes the running nodes send.
    Types without a ``.json`` (an un-built source tree) are not checked.
    """
    stale: dict[str, tuple[str, str]] = {}
    for description_path in sorted(Path(msg_dir).glob("*.json")):
        msgtype = f"{package}/msg/{description_path.stem}"
        if msgtype not in typestore.types:
            continue
        description = json.loads(description_path.read_text())
        built = {h["type_name"]: h["hash_string"] for h in description.get("type_hashes", [])}
        ours = typestore.hash_rihs01(msgtype)
        if msgtype in built and built[msgtype] != ours:
            stale[msgtype] = (ours, built[msgtype])
    return stale


class BagWriter:
    """MCAP rosbag2 writer for a fixed set of topics; counts messages per topic.

    Every topic's connection (with its full message definition) is created on open, so the
    bag's ``metadata.yaml`` lists all requested topics, with count 0 for silent ones.
    Use as a context manager, or call :meth:`close`: only closing writes ``metadata.yaml``.
    """

    def __init__(
        self, path: str | Path, topics: Mapping[str, str], *, typestore: Typestore | None = None
    ) -> None:
        if not topics:
            raise ValueError("topics is empty; a bag needs at least one topic")
        self.typestore = typestore if typestore is not None else make_typestore()
        self.topics = {topic: normalize_msgtype(msgtype) for topic, msgtype in topics.items()}
        for topic, msgtype in self.topics.items():
            if msgtype not in self.typestore.types:
                raise ValueError(
                    f"topic {topic!r} has type {msgtype!r}, which the typestore does not know; "
                    f"register its package (make_typestore) first"
                )
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag path {self.path} exists already; writers never overwrite")
        self._writer: Writer | None = Writer(
            self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP
        )
        self._writer.open()
        self._connections = {
            topic: self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            for topic, msgtype in self.topics.items()
        }
        self.counts: dict[str, int] = dict.fromkeys(self.topics, 0)

    def write(self, topic: str, log_time_ns: int, data: bytes | memoryview) -> None:
        """Append CDR bytes (e.g. from a raw subscription) received at ``log_time_ns``."""
        if self._writer is None:
            raise RuntimeError(f"bag {self.path} is closed")
        connection = self._connections.get(topic)
        if connection is None:
            raise ValueError(f"topic {topic!r} is not one of the bag's topics {list(self.topics)}")
        if log_time_ns < 0:
            raise ValueError(f"log_time_ns={log_time_ns} must be >= 0")
        self._writer.write(connection, int(log_time_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic: str, log_time_ns: int, message: Any) -> None:
        """Serialize a ``rosbags`` message object (``typestore.types[...]``) and append it."""
        if topic not in self.topics:
            raise ValueError(f"topic {topic!r} is not one of the bag's topics {list(self.topics)}")
        data = self.typestore.serialize_cdr(message, self.topics[topic])
        self.write(topic, log_time_ns, data)

    @property
    def closed(self) -> bool:
        return self._writer is None

    def close(self) -> None:
        """Finish the MCAP file and write ``metadata.yaml``; idempotent."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: its topic, type, receive (log) time and deserialized content."""

    topic: str
    msgtype: str
    log_time_ns: int
    message: Any


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Messages of ``path`` in log-time order, decoded with the definitions stored in the bag.

    ``topics`` restricts the output (None = all). Needs no typestore of our own: ``AnyReader``
    rebuilds every type, custom ones included, from the bag's message definitions.
    """
    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        raise FileNotFoundError(f"{path} is not a rosbag2 directory (no metadata.yaml)")
    wanted = None if topics is None else set(topics)
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if wanted is not None:
            missing = wanted - {c.topic for c in connections}
            if missing:
                raise ValueError(
                    f"topics {sorted(missing)} are not in bag {path}; it has "
                    f"{sorted(c.topic for c in reader.connections)}"
                )
        for connection, log_time_ns, raw in reader.messages(connections=connections):
            yield BagMessage(
                connection.topic,
                connection.msgtype,
                log_time_ns,
                reader.deserialize(raw, connection.msgtype),
            )


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag as ``metadata.yaml`` lists it."""

    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagInfo:
    """What ``metadata.yaml`` says about a bag (what ``ros2 bag info`` shows), no messages read."""

    path: Path
    storage: str
    start_ns: int
    duration_ns: int
    files: tuple[str, ...]
    topics: dict[str, TopicInfo]

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    def rate_hz(self, topic: str) -> float | None:
        """Mean rate of ``topic`` over the whole bag; None for a bag shorter than a nanosecond."""
        if self.duration_ns <= 0:
            return None
        return self.topics[topic].count / (self.duration_ns * 1e-9)

    def of_type(self, msgtype: str) -> list[str]:
        """Topics of ``msgtype`` (``pkg/msg/Type`` or ``pkg/Type``), sorted by name."""
        wanted = normalize_msgtype(msgtype)
        return sorted(name for name, t in self.topics.items() if t.msgtype == wanted)

    def one_of_type(self, msgtype: str, what: str) -> str:
        """The bag's one topic of ``msgtype``; ValueError naming ``what`` it is for otherwise."""
        found = self.of_type(msgtype)
        if len(found) != 1:
            raise ValueError(
                f"bag {self.path} must hold exactly one {normalize_msgtype(msgtype)} topic "
                f"({what}), it has {found or 'none'}; topics: {sorted(self.topics)}"
            )
        return found[0]

    def image_topics(self) -> list[str]:
        """Camera topics (``Image`` or ``CompressedImage``) that hold messages, sorted."""
        found = [t for msgtype in IMAGE_TYPES for t in self.of_type(msgtype)]
        return sorted(t for t in found if self.topics[t].count > 0)


def read_bag_info(path: str | Path) -> BagInfo:
    """Parse ``path/metadata.yaml`` (rosbag2 metadata as Jazzy/Kilted and ``rosbags`` write it)."""
    path = Path(path)
    metadata_path = path / "metadata.yaml"
    if not metadata_path.is_file():
        raise FileNotFoundError(f"{path} is not a rosbag2 directory (no metadata.yaml)")
    try:
        info = yaml.safe_load(metadata_path.read_text())["rosbag2_bagfile_information"]
        topics = {}
        for entry in info["topics_with_message_count"]:
            meta = entry["topic_metadata"]
            topics[meta["name"]] = TopicInfo(
                meta["name"], meta["type"], int(entry["message_count"])
            )
        return BagInfo(
            path=path,
            storage=str(info.get("storage_identifier", "")),
            start_ns=int(info["starting_time"]["nanoseconds_since_epoch"]),
            duration_ns=int(info["duration"]["nanoseconds"]),
            files=tuple(info.get("relative_file_paths", ())),
            topics=topics,
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{metadata_path} is not rosbag2 metadata: no field {error}") from None


def metadata_topic_counts(path: str | Path) -> dict[str, int]:
    """Per-topic message counts as ``metadata.yaml`` (what ``ros2 bag info`` shows) lists them."""
    return {name: topic.count for name, topic in read_bag_info(path).topics.items()}


def find_topic(topics: Iterable[str], suffix: str) -> str:
    """The one topic of ``topics`` named ``suffix`` in any namespace (``/ns/suffix``).

    Recorded topics are fully qualified, so a bag of a namespaced launch holds
    ``/arm1/vlash/action_chunk`` where a global one holds ``/vlash/action_chunk``.
    """
    topics = list(topics)
    suffix = suffix.strip("/")
    matches = [t for t in topics if t.strip("/") == suffix or t.endswith("/" + suffix)]
    if len(matches) != 1:
        raise ValueError(
            f"expected exactly one topic ending in {suffix!r}, found {matches} among {topics}"
        )
    return matches[0]


def namespace_of(topic: str, name: str) -> str:
    """Namespace of ``topic`` if it is ``name`` in one ("/arm1/joint_states" -> "/arm1") else ""."""
    suffix = "/" + name.strip("/")
    return topic.removesuffix(suffix) if topic.endswith(suffix) else ""


def image_rgb(msgtype: str, message: Any) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of a recorded ``Image`` or ``CompressedImage`` message."""
    if normalize_msgtype(msgtype) == "sensor_msgs/msg/CompressedImage":
        return compressed_to_rgb(message.format, bytes(message.data))
    return image_to_rgb(message)


def to_builtin(value: Any) -> Any:
    """Plain dicts/lists of any message flavour, so messages compare field by field.

    Handles ``rosbags`` dataclasses, rclpy messages, ``mcap_ros2`` decoded namespaces, numpy and
    ``array.array`` sequences and ``bytes`` (each library represents ``uint8[]`` differently).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # rosbags dataclasses also list the type name (``__msgtype__``) and the constants as
        # fields; ROS 2 spells constants in upper case and fields in lower case.
        return {
            f.name: to_builtin(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("__") and not f.name.isupper()
        }
    fields = getattr(type(value), "get_fields_and_field_types", None)
    if fields is not None:  # rclpy message
        return {name: to_builtin(getattr(value, name)) for name in fields()}
    if isinstance(value, SimpleNamespace):  # mcap_ros2 decoded message
        return {name: to_builtin(getattr(value, name)) for name in type(value).__slots__}
    if isinstance(value, (np.ndarray, array.array)):
        return value.tolist()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return list(bytes(value))
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
