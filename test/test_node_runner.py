"""``run_node`` as a real process over Fast DDS, on either executor: it serves its timers,
subscriptions and parameter services, and Ctrl-C (SIGINT) stops it with exit status 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Int64

SCRIPT = Path(__file__).parent / "scripts" / "counting_node.py"
START = 1000


@pytest.mark.parametrize("event_driven", [False, True], ids=["single_threaded", "events"])
def test_node_serves_callbacks_and_stops_on_ctrl_c(ros_graph, event_driven):
    args = ["--ros-args", "-p", f"start:={START}"]
    node = ros_graph.start_script(
        SCRIPT, *(["--event-driven"] if event_driven else []), *args, name="counting"
    )
    counts: list[int] = []
    ros_graph.node.create_subscription(
        Int64,
        "count",
        lambda msg: counts.append(msg.data),
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    ros_graph.spin_until(lambda: len(counts) >= 20, 60.0, "20 counts from the node's timer")
    # Each count is the previous plus one from the parameter's value: every timer call ran.
    assert counts[0] > START
    assert counts == list(range(counts[0], counts[0] + len(counts)))

    client = ros_graph.node.create_client(GetParameters, "/vlash_counting_node/get_parameters")
    ros_graph.spin_until(lambda: client.service_is_ready(), 30.0, "the parameter service")
    future = client.call_async(GetParameters.Request(names=["start"]))
    ros_graph.spin_until(future.done, 30.0, "an answer of the parameter service")
    assert future.result().values[0].integer_value == START

    assert ros_graph.interrupt(node) == 0, node.log_tail()
    assert "Traceback" not in node.log_tail(), node.log_tail()
