"""Follows a timed joint trajectory the way joint_trajectory_controller does, without ROS.

The simulated arm accepts ``trajectory_msgs/JointTrajectory`` commands: points are reached at
``start + time_from_start`` and positions are interpolated linearly in between (starting from
the position held when the trajectory arrived); after the last point it is held.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TrajectoryFollower:
    """Samples the commanded position of the active trajectory at a given time."""

    def __init__(self, *, joint_names: Sequence[str]) -> None:
        if len(set(joint_names)) != len(joint_names) or not joint_names:
            raise ValueError(f"joint_names must be unique and non-empty, got {list(joint_names)}")
        self._names = list(joint_names)
        self._times: np.ndarray | None = None
        self._points: np.ndarray | None = None

    def reorder(self, names: Sequence[str], values: Sequence[float]) -> np.ndarray:
        """Values given for ``names`` rearranged into this follower's joint order."""
        if len(names) != len(values):
            raise ValueError(f"{len(names)} joint names but {len(values)} values")
        lookup = dict(zip(names, values, strict=True))
        missing = [n for n in self._names if n not in lookup]
        if missing:
            raise ValueError(f"joint names {list(names)} lack {missing}")
        return np.array([lookup[n] for n in self._names], dtype=np.float64)

    def set_trajectory(
        self,
        names: Sequence[str],
        points: Sequence[Sequence[float]],
        times_from_start_s: Sequence[float],
        *,
        start_s: float,
        current: np.ndarray,
    ) -> None:
        """Replace the active trajectory; an empty one stops following (the arm holds)."""
        if not points:
            self.clear()
            return
        if len(points) != len(times_from_start_s):
            raise ValueError(
                f"JointTrajectory has {len(points)} points but {len(times_from_start_s)} times"
            )
        times = np.asarray(times_from_start_s, dtype=np.float64)
        if np.any(np.diff(times) <= 0) or times[0] <= 0:
            raise ValueError(
                f"JointTrajectory time_from_start must be positive and strictly increasing, "
                f"got {times.tolist()}"
            )
        rows = np.stack([self.reorder(names, p) for p in points])
        if not np.all(np.isfinite(rows)):
            raise ValueError("JointTrajectory positions must be finite")
        self._times = np.concatenate([[start_s], start_s + times])
        self._points = np.vstack([np.asarray(current, dtype=np.float64), rows])

    def clear(self) -> None:
        self._times = None
        self._points = None

    def sample(self, now_s: float) -> np.ndarray | None:
        """Commanded position at ``now_s``, or None when no trajectory is active."""
        if self._times is None or self._points is None:
            return None
        return np.array(
            [np.interp(now_s, self._times, self._points[:, j]) for j in range(len(self._names))]
        )
