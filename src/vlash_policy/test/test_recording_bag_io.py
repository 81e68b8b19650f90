"""bag_io: MCAP rosbag2 round trips of every vlash_msgs type plus sensor_msgs, read back with
rosbags and with mcap-ros2-support, and the metadata ros2 bag info/play relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcap_ros2.reader import read_ros2_messages

from vlash_core.stamps import ns_to_sec_nanosec, stamp_ns
from vlash_policy.recording.bag_io import (
    DEFAULT_TOPICS,
    BagWriter,
    find_interface_dir,
    find_topic,
    image_rgb,
    make_typestore,
    metadata_topic_counts,
    namespace_of,
    normalize_msgtype,
    parse_topic_specs,
    read_bag_info,
    read_messages,
    stale_types,
    to_builtin,
)
from vlash_policy.recording.random_messages import random_message

TYPESTORE = make_typestore()
T = TYPESTORE.types
VLASH_TYPES = sorted(p.stem for p in find_interface_dir("vlash_msgs").glob("*.msg"))


def header(ns: int, frame: str = "base") -> object:
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](*ns_to_sec_nanosec(ns)),
        frame_id=frame,
    )


def action_chunk(rng: np.random.Generator, ns: int, horizon: int = 4, dim: int = 3) -> object:
    """Random ActionChunk whose sizes are consistent (H x D actions, H confidences)."""
    chunk = random_message(TYPESTORE, "vlash_msgs/msg/ActionChunk", rng)
    chunk.header = header(ns)
    chunk.horizon, chunk.action_dim = horizon, dim
    chunk.joint_names = [f"joint_{i}" for i in range(dim)]
    chunk.actions = rng.standard_normal(horizon * dim).astype(np.float32)
    chunk.confidence = rng.random(horizon).astype(np.float32)
    chunk.refined = rng.random(horizon) < 0.5
    return chunk


def sample_messages(rng: np.random.Generator) -> dict[str, tuple[str, object]]:
    """One random message of each vlash_msgs type and of the sensor_msgs the arm publishes."""
    msgtypes = [f"vlash_msgs/msg/{name}" for name in VLASH_TYPES]
    msgtypes += ["sensor_msgs/msg/JointState", "std_msgs/msg/Float64MultiArray"]
    messages = {
        "/" + msgtype.replace("/msg/", "_").lower(): (
            msgtype,
            random_message(TYPESTORE, msgtype, rng),
        )
        for msgtype in msgtypes
    }
    messages["/vlash/action_chunk"] = ("vlash_msgs/msg/ActionChunk", action_chunk(rng, 5 * 10**9))
    messages["/camera/image_raw"] = (
        "sensor_msgs/msg/Image",
        T["sensor_msgs/msg/Image"](
            header=header(9 * 10**9 + 1, "camera"),
            height=4,
            width=5,
            encoding="rgb8",
            is_bigendian=0,
            step=15,
            data=rng.integers(0, 256, 60, dtype=np.uint8),
        ),
    )
    return messages


def write_bag(path: Path, messages: dict[str, tuple[str, object]], copies: int) -> dict:
    """Write ``copies`` rounds of ``messages``; returns {topic: [(log_time, message), ...]}."""
    written: dict[str, list] = {topic: [] for topic in messages}
    with BagWriter(path, {t: m[0] for t, m in messages.items()}, typestore=TYPESTORE) as bag:
        for k in range(copies):
            for i, (topic, (_, message)) in enumerate(messages.items()):
                log_time = 10**12 + 1000 * k + i
                bag.write_message(topic, log_time, message)
                written[topic].append((log_time, message))
    return written


def test_every_vlash_msgs_type_is_covered():
    covered = {msgtype for msgtype, _ in sample_messages(np.random.default_rng(0)).values()}
    assert {f"vlash_msgs/msg/{name}" for name in VLASH_TYPES} <= covered
    assert {"ActionChunk", "RolledState", "ExecutedActions", "TaskEvent"} <= set(VLASH_TYPES)


def test_rosbags_round_trip_is_field_equal(tmp_path):
    messages = sample_messages(np.random.default_rng(1))
    written = write_bag(tmp_path / "bag", messages, copies=3)
    read: dict[str, list] = {topic: [] for topic in messages}
    for item in read_messages(tmp_path / "bag"):
        assert item.msgtype == messages[item.topic][0]
        read[item.topic].append((item.log_time_ns, to_builtin(item.message)))
    for topic, entries in written.items():
        assert read[topic] == [(t, to_builtin(m)) for t, m in entries], topic


def test_mcap_ros2_reads_the_bag_field_equal(tmp_path):
    messages = sample_messages(np.random.default_rng(2))
    written = write_bag(tmp_path / "bag", messages, copies=2)
    mcap_files = list((tmp_path / "bag").glob("*.mcap"))
    assert len(mcap_files) == 1
    read: dict[str, list] = {topic: [] for topic in messages}
    for item in read_ros2_messages(str(mcap_files[0])):
        assert item.schema.name == messages[item.channel.topic][0]
        assert item.schema.encoding == "ros2msg"
        read[item.channel.topic].append((item.log_time_ns, to_builtin(item.ros_msg)))
    for topic, entries in written.items():
        assert read[topic] == [(t, to_builtin(m)) for t, m in entries], topic


def test_metadata_lists_every_topic_with_its_count(tmp_path):
    messages = sample_messages(np.random.default_rng(3))
    topics = {t: m[0] for t, m in messages.items()} | {"/silent": "std_msgs/msg/Float64MultiArray"}
    with BagWriter(tmp_path / "bag", topics, typestore=TYPESTORE) as bag:
        for k in range(4):
            bag.write_message("/vlash/action_chunk", 100 + k, messages["/vlash/action_chunk"][1])
        bag.write_message("/camera/image_raw", 50, messages["/camera/image_raw"][1])
        assert not (tmp_path / "bag" / "metadata.yaml").exists()  # only closing writes it
    counts = metadata_topic_counts(tmp_path / "bag")
    expected = dict.fromkeys(topics, 0) | {"/vlash/action_chunk": 4, "/camera/image_raw": 1}
    assert counts == expected
    assert bag.counts == expected
    assert bag.closed
    info = read_bag_info(tmp_path / "bag")
    assert info.message_count == 5 and info.storage == "mcap"
    assert info.start_ns == 50 and info.duration_ns == 103 - 50
    assert info.rate_hz("/vlash/action_chunk") == pytest.approx(4 / 53e-9)
    assert info.of_type("vlash_msgs/ActionChunk") == [
        "/vlash/action_chunk",
        "/vlash_msgs_actionchunk",
    ]
    reports = "/vlash_msgs_executedactions"
    assert info.one_of_type("vlash_msgs/msg/ExecutedActions", "reports") == reports
    with pytest.raises(ValueError, match=r"exactly one std_msgs/msg/Float64MultiArray .*\(cmd\)"):
        info.one_of_type("std_msgs/Float64MultiArray", "cmd")  # two: /silent and the samples'
    assert info.image_topics() == ["/camera/image_raw"]  # images with messages only


def test_bag_info_names_what_is_not_a_bag(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a rosbag2 directory"):
        read_bag_info(tmp_path)
    (tmp_path / "metadata.yaml").write_text("rosbag2_bagfile_information: {duration: {}}\n")
    with pytest.raises(ValueError, match="not rosbag2 metadata: no field"):
        read_bag_info(tmp_path)


def test_topics_are_found_in_any_namespace():
    assert find_topic(["/x/sim/task_events", "/a"], "sim/task_events") == "/x/sim/task_events"
    with pytest.raises(ValueError, match="exactly one"):
        find_topic(["/x/sim/task_events", "/y/sim/task_events"], "sim/task_events")
    with pytest.raises(ValueError, match="exactly one"):
        find_topic(["/mysim/task_events"], "sim/task_events")
    assert namespace_of("/arm1/vlash/executed_actions", "vlash/executed_actions") == "/arm1"
    assert namespace_of("/vlash/executed_actions", "vlash/executed_actions") == ""
    assert namespace_of("/x_vlash/executed_actions", "vlash/executed_actions") == ""


def test_image_rgb_decodes_raw_and_compressed_frames():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    raw = TYPESTORE.types["sensor_msgs/msg/Image"](
        header=header(1), height=4, width=5, encoding="bgr8", is_bigendian=0, step=15,
        data=rgb[..., ::-1].reshape(-1).copy(),
    )  # fmt: skip
    np.testing.assert_array_equal(image_rgb("sensor_msgs/msg/Image", raw), rgb)
    import cv2

    png = cv2.imencode(".png", rgb[..., ::-1])[1].reshape(-1)
    compressed = TYPESTORE.types["sensor_msgs/msg/CompressedImage"](
        header=header(1), format="png", data=png
    )
    np.testing.assert_array_equal(image_rgb("sensor_msgs/CompressedImage", compressed), rgb)


def test_type_hashes_match_the_rosidl_generated_ones():
    msg_dir = find_interface_dir("vlash_msgs")
    if not list(msg_dir.glob("*.json")):
        pytest.skip(f"{msg_dir} has no rosidl type descriptions (vlash_msgs not built)")
    assert stale_types(TYPESTORE, "vlash_msgs", msg_dir) == {}


def test_stale_types_reports_an_edited_interface(tmp_path):
    msg_dir = tmp_path / "msg"
    msg_dir.mkdir()
    (msg_dir / "Ping.msg").write_text("uint32 count\n")
    typestore = make_typestore({"demo_msgs": msg_dir})
    ours = typestore.hash_rihs01("demo_msgs/msg/Ping")
    built = "RIHS01_" + "0" * 64
    description = {"type_hashes": [{"type_name": "demo_msgs/msg/Ping", "hash_string": built}]}
    (msg_dir / "Ping.json").write_text(json.dumps(description))
    assert stale_types(typestore, "demo_msgs", msg_dir) == {"demo_msgs/msg/Ping": (ours, built)}
    description["type_hashes"][0]["hash_string"] = ours
    (msg_dir / "Ping.json").write_text(json.dumps(description))
    assert stale_types(typestore, "demo_msgs", msg_dir) == {}


@settings(max_examples=25, deadline=None)
@given(
    horizon=st.integers(1, 6),
    dim=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    # builtin_interfaces/Time.sec is an int32: stamps end in 2038.
    ns=st.integers(0, (2**31 - 1) * 10**9),
)
def test_action_chunk_round_trip_property(tmp_path_factory, horizon, dim, seed, ns):
    chunk = action_chunk(np.random.default_rng(seed), ns, horizon, dim)
    path = tmp_path_factory.mktemp("bag") / "bag"
    with BagWriter(path, {"/c": "vlash_msgs/ActionChunk"}, typestore=TYPESTORE) as bag:
        bag.write_message("/c", ns, chunk)
    (item,) = list(read_messages(path))
    assert item.log_time_ns == ns
    assert stamp_ns(item.message.header.stamp) == ns
    np.testing.assert_array_equal(item.message.actions, chunk.actions)
    assert to_builtin(item.message) == to_builtin(chunk)


def test_raw_bytes_are_written_verbatim(tmp_path):
    chunk = action_chunk(np.random.default_rng(4), 123)
    raw = TYPESTORE.serialize_cdr(chunk, "vlash_msgs/msg/ActionChunk")
    with BagWriter(tmp_path / "bag", {"/c": "vlash_msgs/msg/ActionChunk"}) as bag:
        bag.write("/c", 5, memoryview(raw))
    (item,) = list(read_messages(tmp_path / "bag"))
    assert TYPESTORE.serialize_cdr(item.message, item.msgtype) == raw


def test_read_messages_filters_topics(tmp_path):
    messages = sample_messages(np.random.default_rng(5))
    write_bag(tmp_path / "bag", messages, copies=2)
    topics = [item.topic for item in read_messages(tmp_path / "bag", ["/camera/image_raw"])]
    assert topics == ["/camera/image_raw", "/camera/image_raw"]
    with pytest.raises(ValueError, match="/nope"):
        list(read_messages(tmp_path / "bag", ["/nope"]))
    with pytest.raises(FileNotFoundError, match=r"metadata\.yaml"):
        list(read_messages(tmp_path))


def test_topic_specs_and_types():
    assert parse_topic_specs(["a:std_msgs/Float64MultiArray", "/b/c:vlash_msgs/msg/TaskEvent"]) == {
        "a": "std_msgs/msg/Float64MultiArray",
        "/b/c": "vlash_msgs/msg/TaskEvent",
    }
    assert normalize_msgtype("sensor_msgs/Image") == "sensor_msgs/msg/Image"
    for bad in (["a"], ["a:"], [":std_msgs/Header"], ["a:Header"], ["a:x/msg/y"]):
        with pytest.raises(ValueError):
            parse_topic_specs(bad)
    with pytest.raises(ValueError, match="twice"):
        parse_topic_specs(["a:std_msgs/Header", "a:std_msgs/Header"])
    with pytest.raises(ValueError, match="empty"):
        parse_topic_specs([])
    assert all(normalize_msgtype(t) in TYPESTORE.types for t in DEFAULT_TOPICS.values())


def test_writer_rejects_bad_use(tmp_path):
    with pytest.raises(ValueError, match="nope_msgs/msg/X"):
        BagWriter(tmp_path / "a", {"/x": "nope_msgs/msg/X"}, typestore=TYPESTORE)
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        BagWriter(tmp_path / "exists", {"/x": "std_msgs/msg/Header"}, typestore=TYPESTORE)
    bag = BagWriter(tmp_path / "b", {"/x": "std_msgs/msg/Header"}, typestore=TYPESTORE)
    with pytest.raises(ValueError, match="/y"):
        bag.write("/y", 0, b"")
    with pytest.raises(ValueError, match="log_time_ns=-1"):
        bag.write("/x", -1, b"")
    bag.close()
    bag.close()
    with pytest.raises(RuntimeError, match="closed"):
        bag.write("/x", 0, b"")
