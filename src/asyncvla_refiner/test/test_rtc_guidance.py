"""Tests for the Real-Time Chunking baseline (Black et al. 2025) in AsyncVLA's τ convention."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.flow_matching import sample_sfm
from asyncvla_refiner.rtc_guidance import guidance_weight, prefix_weights, sample_rtc

SMALL = settings(max_examples=25, deadline=None)


def test_prefix_weights_hand_example() -> None:
    # H = 8, d = 2, s = 3: H − s = 5, c_i = (5 − i)/4 -> c_2..c_4 = 0.75, 0.5, 0.25.
    linear = prefix_weights(8, 2, 3, schedule="linear")
    assert torch.allclose(linear, torch.tensor([1, 1, 0.75, 0.5, 0.25, 0, 0, 0]))
    exp = prefix_weights(8, 2, 3, schedule="exp")
    e1 = math.e - 1
    ramp = [c * (math.exp(c) - 1) / e1 for c in (0.75, 0.5, 0.25)]
    assert torch.allclose(exp, torch.tensor([1, 1, *ramp, 0, 0, 0]))
    assert abs(ramp[1] - 0.188770) < 1e-6  # 0.5·(e^0.5 − 1)/(e − 1)
    hard = prefix_weights(8, 2, 3, schedule="hard")
    assert torch.equal(hard, torch.tensor([1.0, 1, 0, 0, 0, 0, 0, 0]))


@SMALL
@given(data=st.data())
def test_prefix_weights_properties(data: st.DataObject) -> None:
    horizon = data.draw(st.integers(1, 20))
    s = data.draw(st.integers(0, horizon))
    d = data.draw(st.integers(0, horizon - s))
    for schedule in ("exp", "linear", "hard"):
        w = prefix_weights(horizon, d, s, schedule=schedule)
        assert w.shape == (horizon,)
        assert torch.equal(w[:d], torch.ones(d))
        assert torch.equal(w[horizon - s :], torch.zeros(s))
        assert bool((w.diff() <= 0).all()) and bool((w >= 0).all())
        assert bool((w[d : horizon - s] < 1).all())
    assert bool(
        (prefix_weights(horizon, d, s) <= prefix_weights(horizon, d, s, schedule="linear")).all()
    )


def test_prefix_weights_validates() -> None:
    with pytest.raises(ValueError, match="delay"):
        prefix_weights(8, 6, 3)
    with pytest.raises(ValueError, match="execution_horizon"):
        prefix_weights(8, 0, 9)
    with pytest.raises(ValueError, match="schedule"):
        prefix_weights(8, 2, 3, schedule="cosine")


@SMALL
@given(tau=st.floats(0.001, 0.999), beta=st.floats(0.0, 50.0))
def test_guidance_weight_is_rtc_formula_at_t_equal_one_minus_tau(tau: float, beta: float) -> None:
    t = 1.0 - tau  # RTC time: 0 = noise, 1 = data
    r2 = (1 - t) ** 2 / (t**2 + (1 - t) ** 2)
    assert math.isclose(guidance_weight(tau, beta), min(beta, (1 - t) / (t * r2)), rel_tol=1e-9)


def test_guidance_weight_endpoint_and_hand_value() -> None:
    assert guidance_weight(1.0, 5.0) == 5.0  # RTC t = 0: the unclipped weight is infinite
    assert math.isclose(guidance_weight(0.5, 5.0), 2.0)
    with pytest.raises(ValueError, match="tau"):
        guidance_weight(0.0, 5.0)


def _linear_field(c: torch.Tensor):
    # dx/dτ = x − c, token-independent; x̂0 = (1 − τ)x + τc has Jacobian (1 − τ)I.
    return lambda x, _t: x - c


@SMALL
@given(seed=st.integers(0, 10_000), num_steps=st.integers(1, 10))
def test_zero_beta_equals_sfm_exactly(seed: int, num_steps: int) -> None:
    torch.manual_seed(seed)
    mix = torch.randn(6, 6) * 0.3

    def velocity(x: torch.Tensor, token_time: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.einsum("lk,bkd->bld", mix, x)) + token_time[..., None]

    noise, prev = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    w = prefix_weights(6, 2, 1)
    out = sample_rtc(velocity, noise, prev, w, beta_max=0.0, num_steps=num_steps)
    assert torch.equal(out, sample_sfm(velocity, noise, num_steps=num_steps))


def test_single_step_matches_hand_vjp() -> None:
    # num_steps = 1: only τ = 1, weight = β, x̂0 = x − Mx, so g = (I − M)ᵀ e and
    # x_out = x − (Mx − β g).
    torch.manual_seed(5)
    m = torch.randn(4, 4, dtype=torch.float64) * 0.5
    x = torch.randn(1, 4, 2, dtype=torch.float64)
    prev = torch.randn(1, 4, 2, dtype=torch.float64)
    w = torch.tensor([1.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    beta = 3.0

    def velocity(xx: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
        return torch.einsum("lk,bkd->bld", m, xx)

    v = velocity(x, None)
    e = (prev - (x - v)) * w[None, :, None]
    g = torch.einsum("kl,bkd->bld", torch.eye(4, dtype=torch.float64) - m, e)
    expected = x - (v - beta * g)
    out = sample_rtc(velocity, x, prev, w, beta_max=beta, num_steps=1)
    assert torch.allclose(out, expected, atol=1e-12)


def test_strong_guidance_pulls_frozen_prefix_to_previous_chunk() -> None:
    torch.manual_seed(0)
    c, prev, noise = torch.randn(2, 8, 3), 2 * torch.randn(2, 8, 3), torch.randn(2, 8, 3)
    velocity = _linear_field(c)
    w = prefix_weights(8, 3, 2)
    free = sample_rtc(velocity, noise, prev, w, beta_max=0.0)
    guided = sample_rtc(velocity, noise, prev, w, beta_max=5.0)
    err_free = (free[:, :3] - prev[:, :3]).abs().mean()
    err_guided = (guided[:, :3] - prev[:, :3]).abs().mean()
    assert err_guided < 0.35 * err_free
    stronger = sample_rtc(velocity, noise, prev, w, beta_max=20.0)
    assert (stronger[:, :3] - prev[:, :3]).abs().mean() < err_guided
    # Tokens are independent under this field, so W = 0 tokens are untouched by guidance.
    assert torch.equal(guided[:, 6:], free[:, 6:])


def test_sample_rtc_validates() -> None:
    x = torch.zeros(1, 4, 2)
    w = torch.ones(4)
    with pytest.raises(ValueError, match="previous_actions"):
        sample_rtc(lambda a, _t: a, x, torch.zeros(1, 3, 2), w)
    with pytest.raises(ValueError, match="weights"):
        sample_rtc(lambda a, _t: a, x, x, torch.ones(3))
    with pytest.raises(ValueError, match="beta_max"):
        sample_rtc(lambda a, _t: a, x, x, w, beta_max=-1.0)
