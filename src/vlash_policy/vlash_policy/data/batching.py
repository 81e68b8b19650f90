"""Offset-augmented training samples and their collation (VLASH Sec. 4.2 and 4.3).

Every dataset item is one observation ``o_t`` (all camera frames at step ``t`` and the tokenised
instruction) plus ``K`` offset branches ``(s_{t+δ}, A_{t+δ})`` built by
:func:`vlash_policy.offsets.offset_sample`:

* shared observation on (Sec. 4.3): ``K = Δmax + 1`` branches, one per ``δ = 0..Δmax``, so the
  model encodes ``o_t`` once and packs all branches behind it;
* shared observation off (Sec. 4.2): ``K = 1`` branch with ``δ ~ U{0..Δmax}`` drawn per item.

States and actions are normalised (:mod:`vlash_policy.data.normalization`); padded target steps
past the episode end are ``valid=False`` and must be excluded from the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional torch alias
from torch import Tensor
from torch.utils.data import Dataset

from vlash_core.validation import check_int
from vlash_policy.data.episode import Episode, check_compatible
from vlash_policy.data.normalization import NormalizationStats
from vlash_policy.offsets import all_offsets, offset_sample, sample_offsets

Tokenize = Callable[[str], Sequence[int]]


@dataclass
class TrainingBatch:
    """A collated batch of ``B`` observations with ``K`` offset branches each.

    Attributes:
        images: ``(B, N_cam, 3, H, W)`` float32 in ``[0, 1]``, cameras in sorted-name order.
        input_ids: ``(B, L)`` int64 instruction tokens, right-padded.
        attention_mask: ``(B, L)`` bool, True on real tokens.
        states: ``(B, K, S)`` float32 normalised states ``s_{t+δ_k}``.
        actions: ``(B, K, H, D)`` float32 normalised targets ``a_{t+δ_k : t+δ_k+H}``.
        valid: ``(B, K, H)`` bool, False on steps padded past the episode end.
        offsets: ``(B, K)`` int64 offsets ``δ_k``.
    """

    images: Tensor
    input_ids: Tensor
    attention_mask: Tensor
    states: Tensor
    actions: Tensor
    valid: Tensor
    offsets: Tensor

    @property
    def batch_size(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_branches(self) -> int:
        return int(self.offsets.shape[1])

    def to(self, device: torch.device | str) -> TrainingBatch:
        return TrainingBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class OffsetDataset(Dataset):
    """Items over every ``(episode, t)`` pair; see the module docstring for the item content.

    Frames are converted to ``(N_cam, 3, H, W)`` float in ``[0, 1]`` with cameras in sorted-name
    order, and resized (bilinear, antialiased) to ``image_size`` squared when it is given (the
    model's input resolution). Random offsets (shared observation off) come from a generator
    seeded with ``(seed, epoch, index)``, so an item is reproducible regardless of worker or
    rank; call :meth:`set_epoch` to draw fresh offsets each epoch.
    """

    def __init__(
        self,
        episodes: Sequence[Episode],
        *,
        horizon: int,
        max_offset: int,
        shared_observation: bool,
        normalization: NormalizationStats,
        tokenize: Tokenize,
        image_size: int | None = None,
        seed: int = 0,
    ) -> None:
        check_compatible(episodes)
        self.episodes = list(episodes)
        self.horizon = check_int("horizon", horizon, 1)
        self.max_offset = check_int("max_offset", max_offset, 0)
        if not isinstance(shared_observation, bool):
            raise TypeError(f"shared_observation must be bool, got {shared_observation!r}")
        self.shared_observation = shared_observation
        self.normalization = normalization
        self.tokenize = tokenize
        self.image_size = None if image_size is None else check_int("image_size", image_size, 1)
        self.seed = check_int("seed", seed, 0)
        self.epoch = 0
        self.cameras = self.episodes[0].cameras
        self._index = [(e, t) for e, ep in enumerate(self.episodes) for t in range(ep.length)]

    @property
    def num_branches(self) -> int:
        return self.max_offset + 1 if self.shared_observation else 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_int("epoch", epoch, 0)

    def __len__(self) -> int:
        return len(self._index)

    def offsets_for(self, index: int) -> np.ndarray:
        if self.shared_observation:
            return all_offsets(self.max_offset)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return sample_offsets(self.max_offset, 1, rng=rng)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self._index):
            raise IndexError(f"index must be in [0, {len(self._index)}), got {index}")
        e, t = self._index[index]
        ep = self.episodes[e]
        branches = [
            offset_sample(
                states=ep.states,
                actions=ep.actions,
                t=t,
                offset=int(d),
                horizon=self.horizon,
                action_space=ep.action_space,
            )
            for d in self.offsets_for(index)
        ]
        frames = np.stack([ep.images[cam][t] for cam in self.cameras])  # (N_cam, H, W, 3)
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
        if self.image_size is not None and images.shape[-2:] != (self.image_size,) * 2:
            images = F.interpolate(
                images, size=(self.image_size,) * 2, mode="bilinear", antialias=True
            ).clamp_(0.0, 1.0)
        ids = list(self.tokenize(ep.instruction))
        norm = self.normalization
        return {
            "images": images,
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "states": torch.from_numpy(
                norm.normalize_state(np.stack([b.state for b in branches])).astype(np.float32)
            ),
            "actions": torch.from_numpy(
                norm.normalize_action(
                    np.stack([b.actions for b in branches]), np.stack([b.state for b in branches])
                ).astype(np.float32)
            ),
            "valid": torch.from_numpy(np.stack([b.valid for b in branches])),
            "offsets": torch.tensor([b.offset for b in branches], dtype=torch.long),
        }


def collate(samples: Sequence[dict[str, Tensor]], *, pad_token_id: int = 0) -> TrainingBatch:
    """Stack items into a :class:`TrainingBatch`; pad instructions with ``pad_token_id``."""
    if not samples:
        raise ValueError("samples must not be empty")
    lengths = [int(s["input_ids"].shape[0]) for s in samples]
    width = max(max(lengths), 1)
    input_ids = torch.full((len(samples), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), width), dtype=torch.bool)
    for i, (s, n) in enumerate(zip(samples, lengths, strict=True)):
        input_ids[i, :n] = s["input_ids"]
        attention_mask[i, :n] = True
    return TrainingBatch(
        images=torch.stack([s["images"] for s in samples]),
        input_ids=input_ids,
        attention_mask=attention_mask,
        states=torch.stack([s["states"] for s in samples]),
        actions=torch.stack([s["actions"] for s in samples]),
        valid=torch.stack([s["valid"] for s in samples]),
        offsets=torch.stack([s["offsets"] for s in samples]),
    )
