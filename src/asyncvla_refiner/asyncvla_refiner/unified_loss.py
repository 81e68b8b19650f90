"""Unified SFM/AFM training objective (AsyncVLA Sec. 3.3, Algorithm 2, Eq. (4), (5)).

One model learns both modes: per sample a random token mask decides which tokens are noised to
time τ (masked) and which stay clean (unmasked, time 0); the loss supervises the velocity on the
masked tokens only. An all-ones mask is exactly the vanilla SFM objective.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asyncvla_refiner.flow_matching import (
    check_actions,
    check_token_mask,
    interpolate,
    velocity_target,
)


def sample_token_mask(
    batch_size: int,
    length: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    sfm_probability: float = 0.0,
) -> Tensor:
    """Training mask (B, L) bool: y ~ U(0, 1) per sample, m_l ~ Bernoulli(y) (Algorithm 2, line 4).

    Drawing the rate y per sample spreads training over every masked fraction, from almost pure
    AFM context to full SFM. A sample may get no masked token; the loss skips it.

    ``sfm_probability`` is the share of samples whose mask is all ones instead (plain SFM, every
    token from noise). With Algorithm 2's mask alone, half of a chunk's tokens are clean on
    average, and a small model learns to interpolate the masked ones from them long before it
    learns to read the observation: measured here, a policy trained that way moved its chunks by
    0.006 rad across camera frames where the demonstrations moved 0.19 rad; plain SFM samples
    carry the whole chunk's dependence on the observation.
    """
    if not 0.0 <= sfm_probability <= 1.0:
        raise ValueError(f"sfm_probability must be in [0, 1], got {sfm_probability}")
    for name, value in (("batch_size", batch_size), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    rate = torch.rand(batch_size, 1, generator=generator, device=device)
    mask = torch.rand(batch_size, length, generator=generator, device=device) < rate
    plain_sfm = torch.rand(batch_size, 1, generator=generator, device=device) < sfm_probability
    return mask | plain_sfm


def noisy_actions(actions: Tensor, noise: Tensor, tau: Tensor, mask: Tensor) -> Tensor:
    """Asynchronous noisy chunk â^τ = a − τ(a − n)⊙m (AsyncVLA Eq. (5); Algorithm 2, line 7).

    Identical to ``interpolate`` at per-token time τ·m: masked tokens at τ, unmasked clean.
    """
    check_actions("actions", actions)
    check_token_mask("mask", mask, actions)
    if tuple(tau.shape) != (actions.shape[0],):
        raise ValueError(
            f"tau must have shape (B,) = ({actions.shape[0]},), got {tuple(tau.shape)}"
        )
    return interpolate(actions, noise, tau.to(actions.dtype)[:, None] * mask.to(actions.dtype))


def unified_flow_matching_loss(
    predicted_velocity: Tensor,
    actions: Tensor,
    noise: Tensor,
    mask: Tensor,
    *,
    valid: Tensor | None = None,
) -> Tensor:
    """Masked velocity regression ‖(v̂ − u)⊙m‖² with u = n − a (AsyncVLA Eq. (4)).

    The squared error is summed over tokens that are both masked and ``valid`` (non-padded target,
    (B, L) bool) and divided by (number of such tokens × D). Eq. (4) divides by the batch size
    instead; normalising by the supervised-token count keeps the loss scale independent of the
    sampled mask rate and makes an all-ones mask equal the standard SFM mean-squared error.
    Unsupervised tokens are selected out before squaring, so whatever they contain (padding,
    NaN) affects neither the value nor the gradients. Returns a zero with a graph if nothing is
    supervised.
    """
    check_actions("predicted_velocity", predicted_velocity)
    if predicted_velocity.shape != actions.shape:
        raise ValueError(
            f"actions shape {tuple(actions.shape)} must equal predicted_velocity shape "
            f"{tuple(predicted_velocity.shape)}"
        )
    check_token_mask("mask", mask, actions)
    supervised = mask
    if valid is not None:
        check_token_mask("valid", valid, actions)
        supervised = mask & valid
    diff = predicted_velocity - velocity_target(actions, noise)
    diff = torch.where(supervised[..., None], diff, 0.0)
    count = supervised.sum().clamp(min=1) * actions.shape[-1]
    return diff.pow(2).sum() / count
