"""Tests for the asynchronous time embedding (AsyncVLA Sec. 3.1)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.time_embedding import AsyncTimeEmbedding, sinusoidal_embedding

SMALL = settings(max_examples=25, deadline=None)


def test_sinusoidal_embedding_hand_values() -> None:
    # dim 4 -> periods [min_period, max_period] = [0.5, 2.0] here.
    t = torch.tensor([0.25], dtype=torch.float64)
    emb = sinusoidal_embedding(t, 4, min_period=0.5, max_period=2.0)
    expected = torch.tensor(
        [[math.sin(math.pi), math.sin(math.pi / 4), math.cos(math.pi), math.cos(math.pi / 4)]],
        dtype=torch.float64,
    )
    assert torch.allclose(emb, expected, atol=1e-12)


def test_sinusoidal_embedding_at_zero_is_sin0_cos1() -> None:
    emb = sinusoidal_embedding(torch.zeros(2, 3), 8)
    assert emb.shape == (2, 3, 8)
    assert torch.equal(emb[..., :4], torch.zeros(2, 3, 4))
    assert torch.equal(emb[..., 4:], torch.ones(2, 3, 4))


@SMALL
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_sinusoidal_embedding_separates_distinct_times(a: float, b: float) -> None:
    # The longest period (4) exceeds [0, 1], so distinct times never collide.
    ea = sinusoidal_embedding(torch.tensor(a, dtype=torch.float64), 16)
    eb = sinusoidal_embedding(torch.tensor(b, dtype=torch.float64), 16)
    assert torch.allclose(ea.norm(), torch.tensor(math.sqrt(8.0), dtype=torch.float64))
    if abs(a - b) > 1e-6:
        assert not torch.allclose(ea, eb, atol=1e-9)


def test_sinusoidal_embedding_validates() -> None:
    with pytest.raises(ValueError, match="dim"):
        sinusoidal_embedding(torch.zeros(3), 5)
    with pytest.raises(ValueError, match="min_period"):
        sinusoidal_embedding(torch.zeros(3), 4, min_period=2.0, max_period=1.0)
    with pytest.raises(TypeError, match="t must"):
        sinusoidal_embedding(torch.zeros(3, dtype=torch.long), 4)


def test_async_time_embedding_shape_and_validation() -> None:
    torch.manual_seed(0)
    module = AsyncTimeEmbedding(action_dim=3, hidden_size=8)
    out = module(torch.randn(2, 5, 3), torch.rand(2, 5))
    assert out.shape == (2, 5, 8)
    with pytest.raises(ValueError, match="token_time"):
        module(torch.randn(2, 5, 3), torch.rand(2))
    with pytest.raises(ValueError, match="action_dim"):
        module(torch.randn(2, 5, 4), torch.rand(2, 5))
    with pytest.raises(ValueError, match="hidden_size"):
        AsyncTimeEmbedding(action_dim=3, hidden_size=7)


def test_async_time_embedding_is_per_token() -> None:
    # Changing one token's time changes only that token's embedding: masked and unmasked
    # tokens of the same chunk are told apart individually.
    torch.manual_seed(1)
    module = AsyncTimeEmbedding(action_dim=2, hidden_size=16)
    actions = torch.randn(1, 4, 2)
    tau = 0.7
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    base = module(actions, tau * mask)
    flipped = mask.clone()
    flipped[0, 1] = 1.0
    other = module(actions, tau * flipped)
    differs = ~torch.isclose(base, other).all(dim=-1)
    assert torch.equal(differs, torch.tensor([[False, True, False, False]]))


def test_async_time_embedding_matches_definition() -> None:
    torch.manual_seed(2)
    module = AsyncTimeEmbedding(action_dim=3, hidden_size=6)
    actions, token_time = torch.randn(2, 4, 3), torch.rand(2, 4)
    h = torch.cat([sinusoidal_embedding(token_time, 6), module.action_proj(actions)], dim=-1)
    lin1, lin2 = module.mlp[0], module.mlp[2]
    expected = lin2(torch.nn.functional.silu(lin1(h)))
    assert torch.allclose(module(actions, token_time), expected, atol=1e-6)
    assert lin1.in_features == 12 and lin1.out_features == 6
