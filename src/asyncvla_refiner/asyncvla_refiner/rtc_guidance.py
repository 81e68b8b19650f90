"""Real-Time Chunking (RTC) baseline: guided inpainting of the next chunk's prefix.

Black et al. 2025, "Real-Time Execution of Action Chunking Flow Policies" (RTC). While the robot
executes the previous chunk, the next one is sampled so that its first actions agree with what
the previous chunk will still execute. RTC does this at inference time only, with ΠGDM-style
guidance toward the previous chunk under soft prefix weights W.

Convention translation. RTC writes flow time t with t = 0 noise and t = 1 data, integrating
A^{t+1/n} = A^t + (1/n)·v_RTC. This package uses τ = 1 − t (τ = 1 noise, τ = 0 data) and
x_{τ−δ} = x_τ − δ·v with v = dx/dτ = −v_RTC. For the same tensor x:

* predicted clean chunk: RTC's Â¹ = A + (1 − t)·v_RTC becomes x̂0 = x − τ·v;
* error against the previous chunk Y: e = (Y − x̂0)·W (W broadcast over the action dim);
* guidance direction: g = eᵀ ∂x̂0/∂x, a vector-Jacobian product (``torch.autograd.grad`` with
  ``grad_outputs=e``);
* guidance weight: RTC's min(β, (1 − t)/(t·r_t²)) with r_t² = (1 − t)²/(t² + (1 − t)²); with
  t = 1 − τ this is min(β, τ/((1 − τ)·r²)), r² = τ²/(τ² + (1 − τ)²), i.e.
  min(β, (τ² + (1 − τ)²)/(τ(1 − τ))) — symmetric in τ ↔ 1 − τ. At the first step τ = 1 (RTC's
  t = 0) it is +∞, so the weight is β there; the sampler never evaluates τ = 0;
* update: RTC's A ← A + δ(v_RTC + w·g) becomes x ← x − δ(v − w·g). Since g ≈ e when ∂x̂0/∂x ≈ I,
  this moves x (and x̂0) toward Y on the weighted prefix.

With β = 0 the guidance term vanishes and the sampler is exactly ``sample_sfm``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from asyncvla_refiner.flow_matching import VelocityFn, check_actions, euler_times

SCHEDULES = ("exp", "linear", "hard")


def prefix_weights(
    horizon: int, delay: int, execution_horizon: int, *, schedule: str = "exp"
) -> Tensor:
    """Soft inpainting weights W (H,) over the new chunk (RTC Eq. (5)).

    W_i = 1 for i < d (actions executed during inference: frozen), a decaying ramp for
    d ≤ i < H − s, and 0 for i ≥ H − s (beyond the previous chunk). The ramp is
    c_i·(e^{c_i} − 1)/(e − 1) for "exp" and c_i for "linear", c_i = (H − s − i)/(H − s − d + 1);
    "hard" has no ramp (only the first d weights are 1).

    Args:
        horizon: chunk length H.
        delay: inference delay d in control steps.
        execution_horizon: s, actions of the new chunk executed before the next inference.
        schedule: one of "exp", "linear", "hard".
    """
    for name, value in (
        ("horizon", horizon),
        ("delay", delay),
        ("execution_horizon", execution_horizon),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not 0 <= execution_horizon <= horizon:
        raise ValueError(f"execution_horizon must be in [0, {horizon}], got {execution_horizon}")
    if not 0 <= delay <= horizon - execution_horizon:
        raise ValueError(
            f"delay must be in [0, horizon - execution_horizon] = "
            f"[0, {horizon - execution_horizon}], got {delay}"
        )
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    index = torch.arange(horizon, dtype=torch.float64)
    end = horizon - execution_horizon
    c = (end - index) / (end - delay + 1)
    if schedule == "exp":
        ramp = c * torch.expm1(c) / math.expm1(1.0)
    elif schedule == "linear":
        ramp = c
    else:
        ramp = torch.zeros_like(c)
    weights = torch.where(index < delay, 1.0, torch.where(index < end, ramp, 0.0))
    return weights.to(torch.get_default_dtype())


def guidance_weight(tau: float, beta_max: float) -> float:
    """min(β, (τ² + (1 − τ)²)/(τ(1 − τ))): RTC's ΠGDM weight in this package's τ (module doc)."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    if tau == 1.0:
        return beta_max
    return min(beta_max, (tau**2 + (1.0 - tau) ** 2) / (tau * (1.0 - tau)))


def sample_rtc(
    velocity_fn: VelocityFn,
    noise: Tensor,
    previous_actions: Tensor,
    weights: Tensor,
    *,
    beta_max: float = 5.0,
    num_steps: int = 10,
) -> Tensor:
    """Sample a chunk from ``noise`` guided toward ``previous_actions`` on the W-weighted prefix.

    RTC Algorithm 1 (guided inpainting) in this package's τ convention (see module docstring).
    ``velocity_fn`` must be differentiable w.r.t. its first argument; it is called under
    ``torch.enable_grad`` (not usable inside ``torch.inference_mode``). The result is detached.

    Args:
        velocity_fn: FM velocity model, called with token_time = τ for every token.
        noise: starting chunk at τ = 1, (B, L, D).
        previous_actions: Y, the previous chunk aligned to the new chunk's steps, (B, L, D);
            entries where W = 0 are ignored.
        weights: W (L,), e.g. from ``prefix_weights``.
        beta_max: guidance clip β >= 0; 0 disables guidance.
        num_steps: Euler steps.
    """
    check_actions("noise", noise)
    if previous_actions.shape != noise.shape:
        raise ValueError(
            f"previous_actions shape {tuple(previous_actions.shape)} must equal noise shape "
            f"{tuple(noise.shape)}"
        )
    if tuple(weights.shape) != (noise.shape[1],):
        raise ValueError(
            f"weights must have shape (L,) = ({noise.shape[1]},), got {tuple(weights.shape)}"
        )
    if beta_max < 0.0:
        raise ValueError(f"beta_max must be >= 0, got {beta_max}")
    times = euler_times(num_steps)
    delta = 1.0 / num_steps
    ones = torch.ones(noise.shape[:2], dtype=noise.dtype, device=noise.device)
    w = weights.to(noise)[None, :, None]
    target = previous_actions.detach()
    x = noise.detach()
    for tau in times:
        weight = guidance_weight(tau, beta_max)
        if weight == 0.0:
            # Same arithmetic as euler_denoise so that β = 0 reproduces sample_sfm bit for bit.
            with torch.no_grad():
                velocity = velocity_fn(x, tau * ones)
            x = x - delta * velocity
            continue
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            velocity = velocity_fn(x_in, tau * ones)
            predicted_clean = x_in - tau * velocity
            error = (target - predicted_clean.detach()) * w
            (guidance,) = torch.autograd.grad(predicted_clean, x_in, grad_outputs=error)
        x = (x - delta * (velocity.detach() - weight * guidance)).detach()
    return x
