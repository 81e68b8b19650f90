"""Asynchronous flow matching (AFM): regenerate only the low-confidence tokens of an SFM chunk.

AsyncVLA Sec. 3.1: the unmasked tokens of the first-round (SFM) chunk are kept as clean context
(time 0) while the masked tokens restart from Gaussian noise and are denoised with the same model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asyncvla_refiner.flow_matching import (
    VelocityFn,
    check_actions,
    check_token_mask,
    euler_denoise,
)


def afm_start(sfm_actions: Tensor, mask: Tensor, noise: Tensor) -> Tensor:
    """Asynchronous starting noise ñ (AsyncVLA Eq. (2); Algorithm 1, lines 1-2).

    ñ_l = â_l^SFM where m_l = 0 and ñ_l = n_l where m_l = 1.
    """
    check_actions("sfm_actions", sfm_actions)
    check_token_mask("mask", mask, sfm_actions)
    if noise.shape != sfm_actions.shape:
        raise ValueError(
            f"noise shape {tuple(noise.shape)} must equal sfm_actions shape "
            f"{tuple(sfm_actions.shape)}"
        )
    return torch.where(mask[..., None], noise, sfm_actions)


def sample_afm(
    velocity_fn: VelocityFn,
    sfm_actions: Tensor,
    mask: Tensor,
    noise: Tensor,
    *,
    num_steps: int = 10,
) -> Tensor:
    """AFM inference (AsyncVLA Algorithm 1): Euler-denoise Eq. (2)'s start on masked tokens only.

    With an all-True mask this is exactly SFM from ``noise``; with an all-False mask it returns
    ``sfm_actions`` unchanged.
    """
    return euler_denoise(
        velocity_fn, afm_start(sfm_actions, mask, noise), mask, num_steps=num_steps
    )
