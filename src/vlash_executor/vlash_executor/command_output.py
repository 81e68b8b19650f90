"""Joint command messages in the three forms ros2_control users drive.

- ``forward_position``: ``std_msgs/Float64MultiArray`` for a forward position controller, sent
  every tick.
- ``joint_trajectory``: a multi-point timed ``trajectory_msgs/JointTrajectory`` for
  ``joint_trajectory_controller``, sent when a chunk starts (the controller interpolates the
  points, so resending every tick would only restart it).
- ``joint_state``: ``sensor_msgs/JointState`` with positions, sent every tick.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vlash_core.stamps import seconds_to_sec_nanosec

COMMAND_INTERFACES = ("forward_position", "joint_trajectory", "joint_state")


def forward_position(command: np.ndarray) -> Float64MultiArray:
    return Float64MultiArray(data=[float(x) for x in command])


def joint_state(command: np.ndarray, joint_names: Sequence[str], stamp) -> JointState:
    msg = JointState(name=list(joint_names), position=[float(x) for x in command])
    msg.header.stamp = stamp
    return msg


def joint_trajectory(
    points: np.ndarray, joint_names: Sequence[str], control_period_s: float, stamp
) -> JointTrajectory:
    """Trajectory whose point ``i`` is reached ``(i + 1)`` control periods from ``stamp``.

    ``time_from_start`` is strictly increasing, as joint_trajectory_controller requires.
    """
    msg = JointTrajectory(joint_names=list(joint_names))
    msg.header.stamp = stamp
    for i, row in enumerate(points):
        sec, nanosec = seconds_to_sec_nanosec((i + 1) * control_period_s)
        msg.points.append(
            JointTrajectoryPoint(
                positions=[float(x) for x in row],
                time_from_start=Duration(sec=sec, nanosec=nanosec),
            )
        )
    return msg
