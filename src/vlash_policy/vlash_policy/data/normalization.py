"""Mean/std normalisation of states and actions, computed once over the training episodes.

Flow-matching targets (AsyncVLA Eq. (4)-(5)) mix actions with ``N(0, I)`` noise, so actions and
states are standardised per dimension: ``x̂ = (x - mean) / max(std, std_floor)``. The floor keeps a
constant dimension (e.g. a gripper never used in the demos) from dividing by zero. Statistics are
saved as ``normalization.json`` next to the checkpoint so inference undoes exactly the training
transform.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

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


@dataclass(frozen=True)
class NormalizationStats:
    """Statistics of states and actions plus the std floor used when applying them."""

    state: FeatureStats
    action: FeatureStats
    std_floor: float = 1e-3

    def __post_init__(self) -> None:
        if not (np.isfinite(self.std_floor) and self.std_floor > 0):
            raise ValueError(f"std_floor must be a finite number > 0, got {self.std_floor}")

    @classmethod
    def compute(cls, episodes: Sequence[Episode], *, std_floor: float = 1e-3) -> NormalizationStats:
        """Statistics over every step of every episode (the whole training split)."""
        check_compatible(episodes)
        return cls(
            state=FeatureStats.of(np.concatenate([e.states for e in episodes])),
            action=FeatureStats.of(np.concatenate([e.actions for e in episodes])),
            std_floor=std_floor,
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

    def normalize_action(self, x: Array) -> Array:
        return self._apply(self.action, x, inverse=False)

    def unnormalize_action(self, x: Array) -> Array:
        return self._apply(self.action, x, inverse=True)

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state.to_dict(),
            "action": self.action.to_dict(),
            "std_floor": self.std_floor,
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
