"""Flow-matching primitives shared by synchronous (SFM) and asynchronous (AFM) generation.

Convention (AsyncVLA Sec. 3, Algorithm 1 and 2): FM time τ = 1 is pure Gaussian noise and
τ = 0 is data. A noisy chunk is x_τ = τ·n + (1 − τ)·a, so the velocity that transports noise to
data is u = dx_τ/dτ = n − a and the sampler integrates from τ = 1 down to τ = 0 with
x_{τ−δ} = x_τ − δ·v (AsyncVLA Eq. (1)).

Actions are tensors (B, L, D): batch, chunk length (action tokens), action dimension. Time may
differ per token: token_time = τ·m with m ∈ {0, 1}^L, so unmasked tokens are presented to the
model at time 0 ("already clean") while masked ones follow the shared τ.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

VelocityFn = Callable[[Tensor, Tensor], Tensor]
"""(noisy_actions (B, L, D), token_time (B, L)) -> velocity (B, L, D)."""

# Beta(1.5, 1) has CDF F(τ) = τ^1.5 on [0, 1]; inverting it gives τ = u^(1/1.5).
_BETA_ALPHA = 1.5


def check_actions(name: str, tensor: Tensor) -> None:
    """Raise ValueError unless ``tensor`` is an action chunk (B, L, D)."""
    if tensor.dim() != 3:
        raise ValueError(f"{name} must have shape (B, L, D), got {tuple(tensor.shape)}")


def check_token_mask(name: str, mask: Tensor, actions: Tensor) -> None:
    """Raise unless ``mask`` is a bool (B, L) tensor matching the chunk ``actions``."""
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(actions.shape[:2]):
        raise ValueError(
            f"{name} must have shape (B, L) = {tuple(actions.shape[:2])}, got {tuple(mask.shape)}"
        )


def _check_num_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps must be an int, got {type(num_steps).__name__}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")


def sample_time(
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw one FM time per sample, τ ~ Beta(1.5, 1) (AsyncVLA Algorithm 2, line 5).

    Beta(1.5, 1) puts more mass near τ = 1 (noisy), following π0. Sampled by inverse CDF from a
    uniform so that an explicit ``generator`` makes it reproducible.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    u = torch.rand(batch_size, generator=generator, device=device)
    return u.pow(1.0 / _BETA_ALPHA)


def interpolate(actions: Tensor, noise: Tensor, token_time: Tensor) -> Tensor:
    """Noisy actions x_τ = τ·n + (1 − τ)·a (AsyncVLA Eq. (5) with τ replaced by τ·m).

    ``token_time`` is either one time per sample (B,) or one per token (B, L).
    """
    check_actions("actions", actions)
    if noise.shape != actions.shape:
        raise ValueError(
            f"noise shape {tuple(noise.shape)} must equal actions shape {tuple(actions.shape)}"
        )
    if token_time.dim() == 1 and token_time.shape[0] == actions.shape[0]:
        t = token_time[:, None, None]
    elif token_time.dim() == 2 and tuple(token_time.shape) == tuple(actions.shape[:2]):
        t = token_time[..., None]
    else:
        raise ValueError(
            f"token_time must have shape (B,) = ({actions.shape[0]},) or (B, L) = "
            f"{tuple(actions.shape[:2])}, got {tuple(token_time.shape)}"
        )
    t = t.to(actions.dtype)
    return t * noise + (1.0 - t) * actions


def velocity_target(actions: Tensor, noise: Tensor) -> Tensor:
    """Ground-truth FM velocity u = n − a (AsyncVLA Algorithm 2, line 6; Eq. (4))."""
    if noise.shape != actions.shape:
        raise ValueError(
            f"noise shape {tuple(noise.shape)} must equal actions shape {tuple(actions.shape)}"
        )
    return noise - actions


def euler_times(num_steps: int) -> list[float]:
    """The FM times visited by the Euler sampler: τ_k = (num_steps − k) / num_steps, k < num_steps.

    Computed from the step index rather than by repeated subtraction (Algorithm 1, line 8) so
    every sampler in this package sees bit-identical times.
    """
    _check_num_steps(num_steps)
    return [(num_steps - k) / num_steps for k in range(num_steps)]


def euler_denoise(
    velocity_fn: VelocityFn, x_start: Tensor, mask: Tensor, *, num_steps: int = 10
) -> Tensor:
    """Integrate the FM ODE from τ = 1 to τ = 0 on masked tokens only (AsyncVLA Algorithm 1).

    At each of ``num_steps`` equal steps δ = 1/num_steps the model sees token_time = τ·m and the
    masked tokens move by x ← x − δ·v (Eq. (1)); unmasked tokens are copied through untouched
    (selected with ``torch.where``, so they stay bit-equal to ``x_start``).

    Args:
        velocity_fn: the FM velocity model V_θ.
        x_start: the chunk at τ = 1, (B, L, D); for AFM this is Eq. (2)'s asynchronous noise.
        mask: (B, L) bool, True where a token is regenerated (m_l = 1).
        num_steps: number of Euler steps (>= 1).
    """
    check_actions("x_start", x_start)
    check_token_mask("mask", mask, x_start)
    times = euler_times(num_steps)
    delta = 1.0 / num_steps
    mask_f = mask.to(x_start.dtype)
    move = mask[..., None]
    x = x_start
    for tau in times:
        velocity = velocity_fn(x, tau * mask_f)
        if velocity.shape != x.shape:
            raise ValueError(
                f"velocity_fn returned shape {tuple(velocity.shape)}, expected {tuple(x.shape)}"
            )
        x = torch.where(move, x - delta * velocity, x)
    return x


def sample_sfm(velocity_fn: VelocityFn, noise: Tensor, *, num_steps: int = 10) -> Tensor:
    """Synchronous flow matching: all tokens denoised from noise (fully-masked AFM, Sec. 3.1)."""
    check_actions("noise", noise)
    mask = torch.ones(noise.shape[:2], dtype=torch.bool, device=noise.device)
    return euler_denoise(velocity_fn, noise, mask, num_steps=num_steps)
