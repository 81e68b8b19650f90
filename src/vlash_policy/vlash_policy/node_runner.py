"""How every VLASH node process runs: the ``rclpy.init()`` context, one single-threaded executor.

A single-threaded executor delivers every timer tick on time on these 2-core machines, where
``MultiThreadedExecutor`` lost most callbacks (rclpy issues #1452, #1223); work that may take long
(the model) runs in a node's own thread instead.
"""

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Create the node inside an rclpy context and spin it until Ctrl-C or shutdown."""
    try:
        with rclpy.init(args=args):
            node = make_node()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                executor.spin()
            except RuntimeError:
                # SIGINT shuts the context down even while spin runs a callback; rclpy then fails
                # on the invalidated handle (e.g. a publisher inside a timer callback) with a
                # RuntimeError instead of the shutdown exception. Only that case is a clean stop.
                if rclpy.ok():
                    raise
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
