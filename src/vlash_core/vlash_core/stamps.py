"""``builtin_interfaces/Time`` and ``Duration`` values as plain numbers (no ROS import).

Works on any message flavour with ``sec``/``nanosec`` fields: rclpy's, rosbags' or mcap's.
"""

from typing import Any


def stamp_ns(stamp: Any) -> int:
    """Integer nanoseconds: exact, for comparing and ordering stamps."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_seconds(stamp: Any) -> float:
    """Seconds as a float, for arithmetic with durations."""
    return stamp_ns(stamp) * 1e-9
