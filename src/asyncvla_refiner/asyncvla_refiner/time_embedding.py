"""Asynchronous time embedding (AsyncVLA Sec. 3.1, "Asynchronous Time Embedding in AFM").

Each action token carries its own time τ·m_l, so kept SFM tokens (m_l = 0, time 0) and
regenerated tokens (m_l = 1, time τ) are distinguishable to the backbone.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from asyncvla_refiner.flow_matching import check_actions


def sinusoidal_embedding(
    t: Tensor, dim: int, *, min_period: float = 4e-3, max_period: float = 4.0
) -> Tensor:
    """Sinusoidal encoding S(t) of a scalar time in [0, 1], shape (..., dim).

    The first dim/2 channels are sin(2π t / P_k), the last dim/2 are cos(2π t / P_k), with periods
    P_k log-spaced from ``min_period`` to ``max_period`` (the π0 choice for FM time, where the
    longest period exceeds the range [0, 1] so the encoding is unique over it).
    """
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be a positive even int, got {dim}")
    if not 0.0 < min_period < max_period:
        raise ValueError(
            f"periods must satisfy 0 < min_period < max_period, got {min_period}, {max_period}"
        )
    if not t.is_floating_point():
        raise TypeError(f"t must be a floating tensor, got dtype {t.dtype}")
    half = dim // 2
    fraction = torch.linspace(0.0, 1.0, half, dtype=t.dtype, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = t[..., None] * (2.0 * math.pi / period)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


class AsyncTimeEmbedding(nn.Module):
    """x̂^τ = MLP([S(τ·m), P(â^τ)]) per action token (AsyncVLA Sec. 3.1).

    S is ``sinusoidal_embedding`` of the per-token time, P a linear action projection, both of
    width ``hidden_size``; the concatenation (2·hidden) goes through Linear-SiLU-Linear back to
    ``hidden_size`` so it can enter the backbone as ordinary tokens.
    """

    def __init__(self, *, action_dim: int, hidden_size: int) -> None:
        super().__init__()
        if action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {action_dim}")
        if hidden_size < 2 or hidden_size % 2:
            raise ValueError(f"hidden_size must be a positive even int, got {hidden_size}")
        self.action_dim = action_dim
        self.hidden_size = hidden_size
        self.action_proj = nn.Linear(action_dim, hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, noisy_actions: Tensor, token_time: Tensor) -> Tensor:
        """Embed (B, L, action_dim) noisy actions at per-token times (B, L) -> (B, L, hidden)."""
        check_actions("noisy_actions", noisy_actions)
        if noisy_actions.shape[-1] != self.action_dim:
            raise ValueError(
                f"noisy_actions last dim {noisy_actions.shape[-1]} != action_dim {self.action_dim}"
            )
        if tuple(token_time.shape) != tuple(noisy_actions.shape[:2]):
            raise ValueError(
                f"token_time must have shape (B, L) = {tuple(noisy_actions.shape[:2])}, "
                f"got {tuple(token_time.shape)}"
            )
        time_emb = sinusoidal_embedding(token_time.to(noisy_actions.dtype), self.hidden_size)
        hidden = torch.cat([time_emb, self.action_proj(noisy_actions)], dim=-1)
        return self.mlp(hidden)
