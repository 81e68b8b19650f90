"""One demonstration trajectory ``{(o_t, s_t, a_t)}_{t<T}`` (VLASH Sec. 4.2).

Step convention (shared with :mod:`vlash_core.rollforward`): ``states[t]`` is measured BEFORE
``actions[t]`` executes, and every camera frame ``images[cam][t]`` is the observation ``o_t`` of
that same step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space


@dataclass
class Episode:
    """A validated trajectory; arrays are converted to the documented dtypes on construction.

    Attributes:
        images: camera name -> ``(T, H, W, 3)`` uint8 RGB frames (at least one camera).
        states: ``(T, S)`` float32 proprioceptive state ``s_t``.
        actions: ``(T, D)`` float32 actions ``a_t``.
        instruction: language instruction ``ℓ``.
        fps: control rate in steps per second (> 0).
        action_space: whether ``actions`` are absolute targets or per-step increments.
        joint_names: one name per state entry (``S`` names).
    """

    images: Mapping[str, np.ndarray]
    states: np.ndarray
    actions: np.ndarray
    instruction: str
    fps: float
    action_space: ActionSpace
    joint_names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.states = _float_matrix("states", self.states)
        self.actions = _float_matrix("actions", self.actions)
        n_steps = self.states.shape[0]
        if n_steps == 0:
            raise ValueError("states must contain at least one step, got shape (0, S)")
        if self.actions.shape[0] != n_steps:
            raise ValueError(
                f"actions must have one row per state step ({n_steps}), "
                f"got shape {self.actions.shape}"
            )
        if not isinstance(self.images, Mapping) or not self.images:
            raise ValueError("images must be a non-empty mapping camera name -> (T, H, W, 3)")
        images: dict[str, np.ndarray] = {}
        for cam, frames in self.images.items():
            if not isinstance(cam, str) or not cam:
                raise TypeError(f"images keys must be non-empty camera names, got {cam!r}")
            arr = np.asarray(frames)
            if arr.dtype != np.uint8:
                raise TypeError(f"images[{cam!r}] must be uint8, got dtype {arr.dtype}")
            if arr.ndim != 4 or arr.shape[-1] != 3:
                raise ValueError(f"images[{cam!r}] must have shape (T, H, W, 3), got {arr.shape}")
            if arr.shape[0] != n_steps:
                raise ValueError(
                    f"images[{cam!r}] must have one frame per step ({n_steps}), got {arr.shape[0]}"
                )
            if min(arr.shape[1:3]) < 1:
                raise ValueError(f"images[{cam!r}] must have a non-empty frame, got {arr.shape}")
            images[cam] = arr
        self.images = images
        if not isinstance(self.instruction, str):
            raise TypeError(f"instruction must be str, got {type(self.instruction).__name__}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, int | float | np.number):
            raise TypeError(f"fps must be a number, got {type(self.fps).__name__}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps must be a finite number > 0, got {self.fps}")
        self.fps = float(self.fps)
        self.action_space = parse_action_space(self.action_space)
        names = tuple(self.joint_names)
        if not names:
            names = tuple(f"joint_{i}" for i in range(self.state_dim))
        if len(names) != self.state_dim or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"joint_names must be {self.state_dim} strings (one per state entry), "
                f"got {list(names)}"
            )
        self.joint_names = names

    @property
    def length(self) -> int:
        """Number of steps ``T``."""
        return int(self.states.shape[0])

    @property
    def state_dim(self) -> int:
        return int(self.states.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def cameras(self) -> tuple[str, ...]:
        """Camera names in sorted order, the order images are stacked in a batch."""
        return tuple(sorted(self.images))

    def with_commanded_states(self) -> Episode:
        """The episode with ``s_t`` := the command in force before step ``t`` (``a_{t-1}``).

        This is the state the policy is conditioned on when deployed
        (:class:`vlash_policy.inference_planner.InferencePlanner`): a position-controlled arm is
        driven toward its last command and lags it, so the command, not the lagging measurement,
        is where a new chunk continues from, and VLASH's rolled-forward state ``s_{t+Δ}`` is the
        command of step ``t+Δ-1``. With it the offset branches' ``s_{t+δ} = a_{t+δ-1}`` are
        exactly the rolled states of deployment. ``s_0`` stays measured (nothing commanded yet).
        Needs ABSOLUTE actions with one state entry per action.
        """
        if self.action_space is not ActionSpace.ABSOLUTE:
            raise ValueError(
                f"commanded states need absolute actions, got {self.action_space.name.lower()}"
            )
        if self.action_dim != self.state_dim:
            raise ValueError(
                f"commanded states need one state entry per action, got state dim "
                f"{self.state_dim} and action dim {self.action_dim}"
            )
        states = np.concatenate([self.states[:1], self.actions[:-1]])
        return dataclasses.replace(self, states=states)


def _float_matrix(name: str, value: object) -> np.ndarray:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (T, N) with N >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ValueError(f"{name} must be finite; step {bad} has non-finite values")
    return arr


def check_compatible(episodes: Sequence[Episode]) -> None:
    """Raise ValueError unless all episodes share cameras, frame sizes, dims and action space."""
    if not episodes:
        raise ValueError("episodes must not be empty")
    ref = episodes[0]
    for i, ep in enumerate(episodes[1:], start=1):
        for what, a, b in (
            ("cameras", ep.cameras, ref.cameras),
            ("state_dim", ep.state_dim, ref.state_dim),
            ("action_dim", ep.action_dim, ref.action_dim),
            ("action_space", ep.action_space, ref.action_space),
            ("joint_names", ep.joint_names, ref.joint_names),
        ):
            if a != b:
                raise ValueError(f"episode {i} has {what}={a!r}, episode 0 has {b!r}")
        for cam in ref.cameras:
            if ep.images[cam].shape[1:] != ref.images[cam].shape[1:]:
                raise ValueError(
                    f"episode {i} camera {cam!r} frames are {ep.images[cam].shape[1:]}, "
                    f"episode 0 has {ref.images[cam].shape[1:]}"
                )
