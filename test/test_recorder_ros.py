"""The recorder node as a real process over Fast DDS: SIGINT leaves a bag with every message.

Messages are random in every field (built from the interface definitions, so fields added later
are covered too), serialized by rosbags, turned into rclpy messages and published from this
process; the bag must hold exactly what was sent, in order, stamped with receive times.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from vlash_policy.recording.bag_io import (
    make_typestore,
    metadata_topic_counts,
    read_messages,
    to_builtin,
)
from vlash_policy.recording.random_messages import random_message
from vlash_policy.recording.recorder_node import message_class

N = 20
TOPICS = {
    "/vlash/action_chunk": "vlash_msgs/msg/ActionChunk",
    "/vlash/rolled_state": "vlash_msgs/msg/RolledState",
    "/vlash/executed_actions": "vlash_msgs/msg/ExecutedActions",
    "/sim/task_events": "vlash_msgs/msg/TaskEvent",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/forward_position_controller/commands": "std_msgs/msg/Float64MultiArray",
}
SILENT = "/joint_command"  # recorded topic nobody publishes: listed in the bag with count 0


def canonical(message: dict) -> str:
    return json.dumps(message, sort_keys=True)


def start_recorder(ros_graph, bag, topics: dict[str, str], name: str = "recorder"):
    specs = ", ".join(f"'{topic}:{msgtype}'" for topic, msgtype in topics.items())
    cmd = [sys.executable, "-m", "vlash_policy.recording.recorder_node", "--ros-args"]
    cmd += ["-p", f"output_dir:={bag}", "-p", f"topics:=[{specs}]", "-p", f"qos_depth:={2 * N}"]
    return ros_graph.processes.start(name, cmd, ros_graph.env)


def random_messages(typestore, rng: np.random.Generator) -> dict[str, list]:
    messages = {
        topic: [random_message(typestore, msgtype, rng) for _ in range(N)]
        for topic, msgtype in TOPICS.items()
    }
    for image in messages["/camera/image_raw"]:  # camera-sized payloads, not just a few bytes
        image.height, image.width, image.step, image.encoding = 48, 64, 64 * 3, "rgb8"
        image.data = rng.integers(0, 256, 48 * 64 * 3, dtype=np.uint8)
    return messages


def test_recorder_writes_every_message_it_received(ros_graph, tmp_path):
    typestore = make_typestore()
    sent = random_messages(typestore, np.random.default_rng(7))
    bag = tmp_path / "bag"
    recorder = start_recorder(ros_graph, bag, TOPICS | {SILENT: "sensor_msgs/msg/JointState"})

    node = ros_graph.node
    qos = QoSProfile(depth=N, reliability=ReliabilityPolicy.RELIABLE)
    publishers = {
        topic: node.create_publisher(message_class(msgtype), topic, qos)
        for topic, msgtype in TOPICS.items()
    }
    ros_graph.spin_until(
        lambda: all(p.get_subscription_count() > 0 for p in publishers.values()),
        30.0,
        "recorder subscribed to every topic",
    )
    first_send = time.time_ns()
    for i in range(N):  # interleaved, as on the live graph
        for topic, msgtype in TOPICS.items():
            raw = bytes(typestore.serialize_cdr(sent[topic][i], msgtype))
            publishers[topic].publish(deserialize_message(raw, message_class(msgtype)))
    for topic, publisher in publishers.items():
        assert publisher.wait_for_all_acked(Duration(seconds=20)), f"{topic} not acknowledged"
    last_ack = time.time_ns()

    os.killpg(recorder.popen.pid, signal.SIGINT)
    assert recorder.popen.wait(timeout=30) == 0, recorder.log_tail()
    log = recorder.log_tail()
    assert f"closed {bag} with {N * len(TOPICS)} messages" in log, log

    assert metadata_topic_counts(bag) == dict.fromkeys(TOPICS, N) | {SILENT: 0}
    received: dict[str, list] = {topic: [] for topic in TOPICS}
    log_times = []
    for item in read_messages(bag):
        assert item.msgtype == TOPICS[item.topic]
        received[item.topic].append(to_builtin(item.message))
        log_times.append(item.log_time_ns)
    for topic in TOPICS:
        # As a multiset: a sample published while the recorder's side of discovery is still
        # completing is repaired by DDS after later ones, so receive order may differ from send
        # order (seen here for the first sample); the bag keeps receive order.
        assert sorted(map(canonical, received[topic])) == sorted(
            canonical(to_builtin(m)) for m in sent[topic]
        ), topic
    assert log_times == sorted(log_times)
    # Log time = receive time on this machine's clock, between sending and the last ack.
    assert first_send <= min(log_times) and max(log_times) <= last_ack


def test_recorder_rejects_a_malformed_topic_spec(ros_graph, tmp_path):
    cmd = [sys.executable, "-m", "vlash_policy.recording.recorder_node", "--ros-args"]
    cmd += ["-p", f"output_dir:={tmp_path / 'bag'}", "-p", "topics:=['joint_states']"]
    recorder = ros_graph.processes.start("bad_recorder", cmd, ros_graph.env)
    assert recorder.popen.wait(timeout=30) != 0
    assert "must be 'topic:package/msg/Type'" in recorder.log_tail()
    assert not (tmp_path / "bag").exists()
