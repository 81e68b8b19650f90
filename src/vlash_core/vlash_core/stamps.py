"""``builtin_interfaces/Time`` and ``Duration`` values as plain numbers (no ROS import).

Works on any message flavour with ``sec``/``nanosec`` fields: rclpy's, rosbags' or mcap's.
A message is built the other way round: ``Time(sec=sec, nanosec=nanosec)`` with the pair of
:func:`seconds_to_sec_nanosec` (or :func:`ns_to_sec_nanosec`).
"""

from typing import Any

NANOSECONDS_PER_SECOND = 1_000_000_000


def stamp_ns(stamp: Any) -> int:
    """Integer nanoseconds: exact, for comparing and ordering stamps."""
    return int(stamp.sec) * NANOSECONDS_PER_SECOND + int(stamp.nanosec)


def stamp_seconds(stamp: Any) -> float:
    """Seconds as a float, for arithmetic with durations."""
    return stamp_ns(stamp) * 1e-9


def ns_to_sec_nanosec(nanoseconds: int) -> tuple[int, int]:
    """The ``(sec, nanosec)`` fields of ``nanoseconds``; ``nanosec`` is in ``[0, 1e9)``."""
    sec, nanosec = divmod(int(nanoseconds), NANOSECONDS_PER_SECOND)
    return sec, nanosec


def seconds_to_sec_nanosec(seconds: float) -> tuple[int, int]:
    """The ``(sec, nanosec)`` fields of ``seconds``, rounded to the nearest nanosecond."""
    return ns_to_sec_nanosec(round(seconds * NANOSECONDS_PER_SECOND))
