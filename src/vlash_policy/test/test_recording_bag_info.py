"""`python -m vlash_policy.recording.bag_info`: bag metadata where `ros2 bag info` is missing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from vlash_policy.recording.bag_info import format_bag_info, main
from vlash_policy.recording.bag_io import BagWriter, make_typestore, read_bag_info
from vlash_policy.recording.random_messages import random_message

TYPESTORE = make_typestore()


def _bag(path):
    topics = {
        "/arm1/joint_states": "sensor_msgs/msg/JointState",
        "/arm1/joint_command": "sensor_msgs/msg/JointState",
    }
    message = random_message(TYPESTORE, "sensor_msgs/msg/JointState", np.random.default_rng(0))
    with BagWriter(path, topics, typestore=TYPESTORE) as bag:
        for k in range(21):  # 21 messages 0.1 s apart: 2 s, 10.5 Hz
            bag.write_message("/arm1/joint_states", 10**18 + k * 10**8, message)
    return path


def test_lists_topics_with_types_counts_rates_and_empty_ones(tmp_path):
    text = format_bag_info(read_bag_info(_bag(tmp_path / "bag")))
    lines = text.splitlines()
    assert lines[0] == f"bag:       {tmp_path / 'bag'}"
    assert "duration:  2.000 s" in lines and "messages:  21 on 2 topics" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("/")}
    assert rows["/arm1/joint_states"][1:] == ["sensor_msgs/msg/JointState", "21", "10.5", "Hz"]
    assert rows["/arm1/joint_command"][2:] == ["0", "-", "(no", "messages)"]


def test_cli_prints_the_info_and_names_a_missing_bag(tmp_path, capsys):
    bag = _bag(tmp_path / "bag")
    done = subprocess.run(
        [sys.executable, "-m", "vlash_policy.recording.bag_info", str(bag)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == format_bag_info(read_bag_info(bag))
    assert main([str(tmp_path / "nowhere")]) == 1
    assert "is not a rosbag2 directory (no metadata.yaml)" in capsys.readouterr().err
