"""Tests for the flow-matching primitives (AsyncVLA Eq. (1), (5), Algorithm 1 and 2)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.flow_matching import (
    euler_denoise,
    euler_times,
    interpolate,
    sample_sfm,
    sample_time,
    velocity_target,
)

SMALL = settings(max_examples=25, deadline=None)


def test_sample_time_follows_beta_1p5_1() -> None:
    gen = torch.Generator().manual_seed(0)
    tau = sample_time(20000, generator=gen)
    assert tau.shape == (20000,)
    assert bool((tau >= 0).all()) and bool((tau <= 1).all())
    # Beta(1.5, 1): mean 1.5 / 2.5 = 0.6 and CDF τ^1.5.
    assert abs(tau.mean().item() - 0.6) < 0.01
    for q in (0.25, 0.5, 0.75, 0.9):
        assert abs((tau <= q).float().mean().item() - q**1.5) < 0.015


def test_sample_time_is_seedable_and_validates() -> None:
    a = sample_time(8, generator=torch.Generator().manual_seed(3))
    b = sample_time(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="batch_size"):
        sample_time(0)


@SMALL
@given(seed=st.integers(0, 10_000), per_token=st.booleans())
def test_interpolate_endpoints(seed: int, per_token: bool) -> None:
    torch.manual_seed(seed)
    a, n = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    shape = (2, 3) if per_token else (2,)
    assert torch.equal(interpolate(a, n, torch.zeros(shape)), a)
    assert torch.equal(interpolate(a, n, torch.ones(shape)), n)


def test_interpolate_per_token_hand_example() -> None:
    a = torch.tensor([[[1.0], [2.0]]])
    n = torch.tensor([[[3.0], [-2.0]]])
    out = interpolate(a, n, torch.tensor([[0.25, 0.5]]))
    # 0.25·3 + 0.75·1 = 1.5 ; 0.5·(−2) + 0.5·2 = 0
    assert torch.allclose(out, torch.tensor([[[1.5], [0.0]]]))


def test_interpolate_rejects_bad_time_shape() -> None:
    with pytest.raises(ValueError, match="token_time"):
        interpolate(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), torch.zeros(3))


@SMALL
@given(seed=st.integers(0, 10_000), tau=st.floats(0.0, 1.0))
def test_velocity_target_is_time_derivative_of_interpolation(seed: int, tau: float) -> None:
    torch.manual_seed(seed)
    a, n = torch.randn(2, 3, 2, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    u = velocity_target(a, n)
    h = 1e-6
    t0 = torch.full((2,), tau, dtype=torch.float64)
    fd = (interpolate(a, n, t0 + h) - interpolate(a, n, t0 - h)) / (2 * h)
    assert torch.allclose(fd, u, atol=1e-6)
    assert torch.equal(u, n - a)


def test_euler_times() -> None:
    assert euler_times(4) == [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError, match="num_steps"):
        euler_times(0)


@SMALL
@given(seed=st.integers(0, 10_000), num_steps=st.integers(1, 12))
def test_euler_constant_velocity_reaches_x_minus_v(seed: int, num_steps: int) -> None:
    torch.manual_seed(seed)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    v = torch.randn(2, 5, 3, dtype=torch.float64)
    out = sample_sfm(lambda _x, _t: v, x, num_steps=num_steps)
    assert torch.allclose(out, x - v, atol=1e-12)


@SMALL
@given(seed=st.integers(0, 10_000), num_steps=st.integers(1, 30))
def test_euler_linear_field_matches_discrete_and_analytic_solution(
    seed: int, num_steps: int
) -> None:
    # dx/dτ = x − c. Exact flow from τ=1 to τ=0: x(0) = c + (x1 − c)·e^{−1}.
    # Euler: each step multiplies (x − c) by (1 − δ), so x_N = c + (x1 − c)(1 − δ)^N.
    torch.manual_seed(seed)
    x1 = torch.randn(1, 4, 2, dtype=torch.float64)
    c = torch.randn(1, 4, 2, dtype=torch.float64)
    out = sample_sfm(lambda x, _t: x - c, x1, num_steps=num_steps)
    delta = 1.0 / num_steps
    assert torch.allclose(out, c + (x1 - c) * (1 - delta) ** num_steps, atol=1e-12)
    # First-order global error: e^{−1} − (1 − δ)^N ≈ e^{−1}·δ/2 ≤ δ.
    analytic = c + (x1 - c) * math.exp(-1.0)
    assert bool(((out - analytic).abs() <= delta * (x1 - c).abs() + 1e-12).all())


def test_euler_denoise_moves_only_masked_tokens_and_passes_token_time() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    seen: list[torch.Tensor] = []

    def velocity(xx: torch.Tensor, token_time: torch.Tensor) -> torch.Tensor:
        seen.append(token_time.clone())
        return torch.full_like(xx, 0.3) + xx

    out = euler_denoise(velocity, x, mask, num_steps=4)
    assert torch.equal(out[~mask], x[~mask])
    assert not torch.allclose(out[mask], x[mask])
    assert len(seen) == 4
    for k, token_time in enumerate(seen):
        tau = (4 - k) / 4
        assert torch.equal(token_time, tau * mask.float())


def test_euler_denoise_validates_inputs() -> None:
    x = torch.zeros(2, 3, 1)
    ok = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(TypeError, match="mask"):
        euler_denoise(lambda a, _t: a, x, ok.float())
    with pytest.raises(ValueError, match="mask"):
        euler_denoise(lambda a, _t: a, x, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_steps"):
        euler_denoise(lambda a, _t: a, x, ok, num_steps=0)
    with pytest.raises(ValueError, match="x_start"):
        euler_denoise(lambda a, _t: a, torch.zeros(2, 3), ok)
    with pytest.raises(ValueError, match="velocity_fn"):
        euler_denoise(lambda a, _t: a[..., :0], x, ok)
