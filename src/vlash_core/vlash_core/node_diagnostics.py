"""A node's refused inputs: logged, counted and published on ``/diagnostics``.

The ROS convention (``diagnostic_updater``): a ``diagnostic_msgs/DiagnosticArray`` on the absolute
topic ``/diagnostics`` once a second, one ``DiagnosticStatus`` per node named ``<node>: inputs``,
whose key-value pairs are the node's cumulative counters
(:class:`~vlash_core.input_diagnostics.InputDiagnostics`), so ``rqt_robot_monitor`` or a
diagnostic aggregator shows them and the latest message alone gives every count.
"""

from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from vlash_core.input_diagnostics import InputDiagnostics, RefusedInputError

TOPIC = "/diagnostics"
PERIOD_S = 1.0
# A kind of refused input is logged at once, then at most once per this period.
LOG_PERIOD_S = 2.0


class NodeDiagnostics:
    """Counts a node's inputs, logs refusals throttled per kind, publishes the counts at 1 Hz.

    ``extra()`` adds the node's own state (step, hold reason, ...) to every status.
    """

    def __init__(self, node: Node, *, extra: Callable[[], dict[str, str]] | None = None) -> None:
        self._node = node
        self._extra = extra
        self.counts = InputDiagnostics(log_period_s=LOG_PERIOD_S)
        self._name = f"{node.get_fully_qualified_name()}: inputs"
        self._publisher = node.create_publisher(DiagnosticArray, TOPIC, 10)
        self._timer = node.create_timer(PERIOD_S, self.publish)

    def received(self, source: str) -> None:
        self.counts.received(source)

    def add(self, key: str, count: int = 1) -> None:
        self.counts.add(key, count)

    def refuse(self, source: str, error: ValueError | TypeError, *, label: str = "") -> None:
        """Count a refused ``source`` message and log it (each kind at most every 2 s).

        An error that is not a :class:`RefusedInputError` counts as kind ``invalid``.
        """
        if not isinstance(error, RefusedInputError):
            error = RefusedInputError("invalid", f"{type(error).__name__}: {error}")
        line = self.counts.refuse(source, error, label=label)
        if line is not None:
            self._node.get_logger().error(line)

    def publish(self) -> None:
        summary = self.counts.summary(self._extra() if self._extra else None)
        status = DiagnosticStatus(
            level=bytes([summary.level]),
            name=self._name,
            message=summary.message,
            hardware_id=self._node.get_name(),
            values=[KeyValue(key=k, value=v) for k, v in summary.values],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(msg)
