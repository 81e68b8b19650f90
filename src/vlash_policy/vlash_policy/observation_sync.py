"""Pair camera images and joint states by time stamp into one observation, without ROS.

VLASH conditions the policy on an observation ``o_t`` and the robot state ``s_t`` of the same
control step ``t`` (VLASH Sec. 3; the state is then rolled forward to ``s_{t+Δ}``, Sec. 4.1).
Cameras and the joint-state publisher run at their own rates, so the synchronizer keeps a short
history of each stream and matches them around the reference camera's stamp, within a bounded
tolerance. The reference stamp is what the policy maps to the executor's step ``t``.

ROS callbacks add messages while the inference worker asks for observations, so every method
holds one lock.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Observation:
    """Images of every camera and the joint state matched to one reference stamp."""

    stamp_s: float
    """Stamp of the reference (first) camera's image: the time the observation shows."""
    images: Mapping[str, np.ndarray]
    """Camera name -> image as added (read-only view)."""
    state: np.ndarray
    """Joint positions of the matched joint state (read-only view)."""
    skew_s: float
    """Largest ``|stamp - stamp_s|`` over the other cameras' images and the joint state."""


class _Stream:
    """Stamp-sorted ring of (stamp, value); the oldest stamps are evicted first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.stamps: list[float] = []
        self.values: list[np.ndarray] = []

    def add(self, stamp: float, value: np.ndarray) -> None:
        # Messages of one stream can arrive out of order (transport reordering, replays), so
        # insert by stamp rather than append; a repeated stamp replaces the older message.
        i = bisect.bisect_left(self.stamps, stamp)
        if i < len(self.stamps) and self.stamps[i] == stamp:
            self.values[i] = value
            return
        self.stamps.insert(i, stamp)
        self.values.insert(i, value)
        if len(self.stamps) > self._capacity:
            del self.stamps[0], self.values[0]

    def nearest(self, stamp: float) -> int | None:
        """Index of the entry nearest to ``stamp``; ties go to the newer entry."""
        if not self.stamps:
            return None
        i = bisect.bisect_left(self.stamps, stamp)
        if i == 0:
            return 0
        if i == len(self.stamps):
            return i - 1
        return i if self.stamps[i] - stamp <= stamp - self.stamps[i - 1] else i - 1


def _finite_stamp(name: str, value: float) -> float:
    stamp = float(value)
    if not math.isfinite(stamp):
        raise ValueError(f"{name} must be finite, got {value}")
    return stamp


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class ObservationSynchronizer:
    """Latest set of camera images and joint state whose stamps agree within ``tolerance_s``."""

    def __init__(
        self, *, camera_names: Sequence[str], tolerance_s: float, buffer_size: int = 30
    ) -> None:
        names = list(camera_names)
        if isinstance(camera_names, str) or not names:
            raise ValueError(
                f"camera_names must be a non-empty list of names, got {camera_names!r}"
            )
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"camera_names must be non-empty strings, got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"camera_names must be unique, got {names!r}")
        tolerance = float(tolerance_s)
        if not math.isfinite(tolerance) or tolerance < 0.0:
            raise ValueError(f"tolerance_s must be finite and >= 0, got {tolerance_s}")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
            raise TypeError(f"buffer_size must be an integer, got {type(buffer_size).__name__}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        self.camera_names: tuple[str, ...] = tuple(names)
        self.tolerance_s = tolerance
        self._images = {name: _Stream(buffer_size) for name in names}
        self._joints = _Stream(buffer_size)
        self._lock = threading.Lock()

    def add_image(self, camera: str, stamp_s: float, rgb: np.ndarray) -> None:
        """Store an image of ``camera`` taken at ``stamp_s`` (kept without a copy)."""
        stream = self._images.get(camera)
        if stream is None:
            raise ValueError(
                f"unknown camera {camera!r}; configured cameras: {', '.join(self.camera_names)}"
            )
        stamp = _finite_stamp("stamp_s", stamp_s)
        image = _read_only(np.asarray(rgb))
        with self._lock:
            stream.add(stamp, image)

    def add_joint_state(self, stamp_s: float, positions: Sequence[float] | np.ndarray) -> None:
        """Store the joint positions measured at ``stamp_s``."""
        stamp = _finite_stamp("stamp_s", stamp_s)
        state = np.array(positions, dtype=np.float64)
        if state.ndim != 1 or state.size == 0:
            raise ValueError(f"positions must be a non-empty 1-D sequence, got shape {state.shape}")
        if not np.all(np.isfinite(state)):
            raise ValueError(f"positions must be finite, got {state.tolist()}")
        with self._lock:
            self._joints.add(stamp, _read_only(state))

    def latest(self, *, not_after_s: float | None = None) -> Observation | None:
        """Newest complete observation, its reference stamp at most ``not_after_s`` if given.

        Walks the reference camera's images from newest to oldest and returns the first one for
        which every other camera and the joint state have an entry (the nearest in stamp) no
        more than ``tolerance_s`` away. ``not_after_s`` lets the planner ask only for
        observations that executor ticks already bracket. None when nothing matches.
        """
        limit = math.inf if not_after_s is None else _finite_stamp("not_after_s", not_after_s)
        reference_name, *others = self.camera_names
        with self._lock:
            reference = self._images[reference_name]
            last = bisect.bisect_right(reference.stamps, limit)
            for i in range(last - 1, -1, -1):
                stamp = reference.stamps[i]
                matched = self._match(stamp, others)
                if matched is not None:
                    images, state, skew = matched
                    return Observation(
                        stamp_s=stamp,
                        images={reference_name: reference.values[i], **images},
                        state=state,
                        skew_s=skew,
                    )
        return None

    def _match(
        self, stamp: float, others: Sequence[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray, float] | None:
        skew = 0.0
        images: dict[str, np.ndarray] = {}
        for name in others:
            stream = self._images[name]
            j = stream.nearest(stamp)
            if j is None or abs(stream.stamps[j] - stamp) > self.tolerance_s:
                return None
            images[name] = stream.values[j]
            skew = max(skew, abs(stream.stamps[j] - stamp))
        j = self._joints.nearest(stamp)
        if j is None or abs(self._joints.stamps[j] - stamp) > self.tolerance_s:
            return None
        skew = max(skew, abs(self._joints.stamps[j] - stamp))
        return images, self._joints.values[j], skew
