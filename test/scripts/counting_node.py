"""A node that publishes a count on ``count`` every 20 ms, run by ``run_node`` (test helper).

``--event-driven`` spins it on the EventsExecutor, as the policy node runs.
"""

from __future__ import annotations

import sys

from rclpy.node import Node
from std_msgs.msg import Int64

from vlash_core.node_runner import run_node


class CountingNode(Node):
    def __init__(self) -> None:
        super().__init__("vlash_counting_node")
        self.declare_parameter("start", 0)
        self._count = self.get_parameter("start").value
        self._publisher = self.create_publisher(Int64, "count", 10)
        self.create_timer(0.02, self._publish)

    def _publish(self) -> None:
        self._count += 1
        self._publisher.publish(Int64(data=self._count))


if __name__ == "__main__":
    ros_args = [a for a in sys.argv if a != "--event-driven"]
    run_node(CountingNode, ros_args, event_driven="--event-driven" in sys.argv)
