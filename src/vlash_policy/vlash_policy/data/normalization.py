"""Mean/std normalisation of states and actions, computed once over the training episodes.

Flow-matching targets (AsyncVLA Eq. (4)-(5)) mix actions with ``N(0, I)`` noise, so actions and
states are standardised per dimension: ``x̂ = (x - mean) / max(std, std_floor)``. The floor keeps a
constant dimension (e.g. a gripper never used in the demos) from dividing by zero. Statistics are
saved as ``normalization.json`` next to the checkpoint so inference undoes exactly the training
transform.

State-relative actions (``relative_actions``, absolute action space with one state entry per
action): a chunk ``A_t`` conditioned on state ``s`` is standardised as ``A_t - s``, the
displacement from where the chunk starts (the "delta actions" of π0/openpi for joint targets).
Absolute targets are dominated by the state, so a small policy learns to copy it and ignore the
camera; the displacement is what the image decides (where the target is). With VLASH offsets
``s`` is each branch's own (rolled-forward) state ``s_{t+δ}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from vlash_core.action_space import ActionSpace
from vlash_policy.data.episode import Episode, check_compatible

NORMALIZATION_FILE = "normalization.json"
Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension statistics of one feature (state or action)."""

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    count: int

    def __post_init__(self) -> None:
        dim = np.asarray(self.mean).shape
        for name in ("mean", "std", "min", "max"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.ndim != 1 or arr.shape != dim:
                raise ValueError(f"{name} must have shape {dim}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be finite, got {arr.tolist()}")
            object.__setattr__(self, name, arr)
        if np.any(self.std < 0):
            raise ValueError(f"std must be >= 0, got {self.std.tolist()}")

    @classmethod
    def of(cls, rows: np.ndarray) -> FeatureStats:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"rows must have shape (N>0, D), got {rows.shape}")
        return cls(rows.mean(0), rows.std(0), rows.min(0), rows.max(0), int(rows.shape[0]))

    def to_dict(self) -> dict[str, object]:
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FeatureStats:
        missing = {"mean", "std", "min", "max"} - set(data)
        if missing:
            raise ValueError(f"feature statistics are missing keys {sorted(missing)}")
        count = data.get("count", 0)
        # LeRobot stores count as a one-element list.
        count = int(np.asarray(count).reshape(-1)[0]) if np.size(count) else 0
        return cls(
            *(np.asarray(data[k], np.float64).reshape(-1) for k in ("mean", "std", "min", "max")),
            count=count,
        )


def _displacements(episode: Episode, horizon: int) -> np.ndarray:
    """Rows ``a_{t+k} - s_t`` for every step ``t`` and ``k < horizon`` inside the episode."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"relative_horizon must be an int >= 1, got {horizon!r}")
    if episode.action_space is not ActionSpace.ABSOLUTE:
        raise ValueError(
            f"relative actions are displacements of absolute targets, got action space "
            f"{episode.action_space.name.lower()}"
        )
    if episode.action_dim != episode.state_dim:
        raise ValueError(
            f"relative actions need one state entry per action dimension, got state dim "
            f"{episode.state_dim} and action dim {episode.action_dim}"
        )
    rows = [episode.actions[k:] - episode.states[: episode.length - k] for k in range(horizon)]
    return np.concatenate([r for r in rows if len(r)])


@dataclass(frozen=True)
class NormalizationStats:
    """Statistics of states and actions plus the std floor used when applying them."""

    state: FeatureStats
    action: FeatureStats
    std_floor: float = 1e-3
    relative_actions: bool = False
    """Actions are standardised as displacements from the conditioning state (module doc)."""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.std_floor) and self.std_floor > 0):
            raise ValueError(f"std_floor must be a finite number > 0, got {self.std_floor}")
        if self.relative_actions and self.state.mean.shape != self.action.mean.shape:
            raise ValueError(
                f"relative_actions needs one state entry per action dimension, got state "
                f"dim {self.state.mean.shape[0]} and action dim {self.action.mean.shape[0]}"
            )

    @classmethod
    def compute(
        cls,
        episodes: Sequence[Episode],
        *,
        std_floor: float = 1e-3,
        relative_horizon: int | None = None,
    ) -> NormalizationStats:
        """Statistics over every step of every episode (the whole training split).

        ``relative_horizon`` H switches on state-relative actions: the action statistics are
        then those of ``a_{t+k} - s_t`` for ``k < H`` (the displacements a chunk holds).
        """
        check_compatible(episodes)
        states = FeatureStats.of(np.concatenate([e.states for e in episodes]))
        if relative_horizon is None:
            actions = FeatureStats.of(np.concatenate([e.actions for e in episodes]))
        else:
            actions = FeatureStats.of(
                np.concatenate([_displacements(e, relative_horizon) for e in episodes])
            )
        return cls(
            state=states,
            action=actions,
            std_floor=std_floor,
            relative_actions=relative_horizon is not None,
        )

    def _apply(self, stats: FeatureStats, x: Array, inverse: bool) -> Array:
        if x.shape[-1] != stats.mean.shape[0]:
            raise ValueError(
                f"last dimension must be {stats.mean.shape[0]} to match the statistics, "
                f"got shape {tuple(x.shape)}"
            )
        mean = stats.mean
        scale = np.maximum(stats.std, self.std_floor)
        if isinstance(x, torch.Tensor):
            mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            scale_t = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
            return x * scale_t + mean_t if inverse else (x - mean_t) / scale_t
        arr = np.asarray(x)
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        out = arr * scale + mean if inverse else (arr - mean) / scale
        return out.astype(dtype)

    def normalize_state(self, x: Array) -> Array:
        return self._apply(self.state, x, inverse=False)

    def unnormalize_state(self, x: Array) -> Array:
        return self._apply(self.state, x, inverse=True)

    def normalize_action(self, chunk: Array, state: Array) -> Array:
        """Standardise a chunk ``(..., H, D)`` conditioned on the raw ``state`` ``(..., S)``."""
        return self._apply(self.action, chunk - self._reference(chunk, state), inverse=False)

    def unnormalize_action(self, chunk: Array, state: Array) -> Array:
        """Inverse of :meth:`normalize_action`: raw chunk from a standardised one."""
        return self._apply(self.action, chunk, inverse=True) + self._reference(chunk, state)

    def _reference(self, chunk: Array, state: Array) -> Array | float:
        """What the chunk is measured from: the state (relative actions) or nothing."""
        if chunk.ndim < 2:
            raise ValueError(f"chunk must be (..., H, D), got shape {tuple(chunk.shape)}")
        if tuple(state.shape) != (*chunk.shape[:-2], self.state.mean.shape[0]):
            raise ValueError(
                f"state must have shape {(*chunk.shape[:-2], self.state.mean.shape[0])} for a "
                f"chunk of shape {tuple(chunk.shape)}, got {tuple(state.shape)}"
            )
        if not self.relative_actions:
            return 0.0
        return state[..., None, :]

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state.to_dict(),
            "action": self.action.to_dict(),
            "std_floor": self.std_floor,
            "relative_actions": self.relative_actions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> NormalizationStats:
        for key in ("state", "action"):
            if key not in data:
                raise ValueError(f"normalization statistics are missing {key!r}")
        return cls(
            state=FeatureStats.from_dict(data["state"]),  # type: ignore[arg-type]
            action=FeatureStats.from_dict(data["action"]),  # type: ignore[arg-type]
            std_floor=float(data.get("std_floor", 1e-3)),  # type: ignore[arg-type]
            relative_actions=bool(data.get("relative_actions", False)),
        )

    def save(self, path: str | Path) -> Path:
        """Write JSON to ``path`` (a directory gets ``normalization.json``); returns the file."""
        path = Path(path)
        if path.is_dir():
            path = path / NORMALIZATION_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> NormalizationStats:
        path = Path(path)
        if path.is_dir():
            path = path / NORMALIZATION_FILE
        return cls.from_dict(json.loads(path.read_text()))
