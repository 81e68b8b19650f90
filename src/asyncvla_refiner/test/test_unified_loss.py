"""Tests for the unified SFM/AFM training objective (AsyncVLA Algorithm 2, Eq. (4), (5))."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.flow_matching import interpolate, velocity_target
from asyncvla_refiner.unified_loss import (
    noisy_actions,
    sample_token_mask,
    unified_flow_matching_loss,
)

SMALL = settings(max_examples=25, deadline=None)


def test_sample_token_mask_rate_is_uniform_per_sample() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = sample_token_mask(4000, 200, generator=gen)
    assert mask.dtype == torch.bool and mask.shape == (4000, 200)
    # With L = 200 each row's masked fraction ≈ its y ~ U(0, 1).
    fraction = mask.float().mean(dim=1)
    for q in (0.1, 0.3, 0.5, 0.7, 0.9):
        assert abs((fraction <= q).float().mean().item() - q) < 0.04
    # Bernoulli within a row, not a block: masked tokens are spread across positions.
    assert abs(mask.float().mean(dim=0).std().item()) < 0.03


def test_sfm_probability_makes_that_share_of_masks_all_ones() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = sample_token_mask(4000, 50, generator=gen, sfm_probability=0.4)
    all_ones = mask.all(dim=1).float().mean().item()
    # Algorithm 2's own draw masks all 50 tokens almost never (P = 1/51).
    assert abs(all_ones - (0.4 + 0.6 / 51)) < 0.03
    rest = mask[~mask.all(dim=1)].float().mean(dim=1)
    assert abs(rest.mean().item() - 0.5) < 0.03
    assert sample_token_mask(8, 5, sfm_probability=1.0).all()
    with pytest.raises(ValueError, match="sfm_probability"):
        sample_token_mask(3, 5, sfm_probability=1.5)


def test_sample_token_mask_seedable_and_validates() -> None:
    a = sample_token_mask(3, 5, generator=torch.Generator().manual_seed(1))
    b = sample_token_mask(3, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="length"):
        sample_token_mask(3, 0)


def test_noisy_actions_hand_example() -> None:
    a = torch.tensor([[[2.0], [4.0], [-1.0]]])
    n = torch.tensor([[[0.0], [0.0], [3.0]]])
    tau = torch.tensor([0.25])
    mask = torch.tensor([[True, False, True]])
    # a − τ(a − n)m: 2 − 0.25·2 = 1.5 ; 4 unchanged ; −1 − 0.25·(−4) = 0
    out = noisy_actions(a, n, tau, mask)
    assert torch.allclose(out, torch.tensor([[[1.5], [4.0], [0.0]]]))
    with pytest.raises(ValueError, match="tau"):
        noisy_actions(a, n, torch.tensor([0.1, 0.2]), mask)


@SMALL
@given(seed=st.integers(0, 10_000))
def test_noisy_actions_unmasked_clean_masked_at_tau(seed: int) -> None:
    torch.manual_seed(seed)
    a, n = torch.randn(3, 6, 2), torch.randn(3, 6, 2)
    tau, mask = torch.rand(3), torch.rand(3, 6) < 0.5
    out = noisy_actions(a, n, tau, mask)
    assert torch.equal(out[~mask], a[~mask])
    at_tau = interpolate(a, n, tau)
    assert torch.allclose(out[mask], at_tau[mask])
    eq5 = a - tau[:, None, None] * (a - n) * mask[..., None]
    assert torch.allclose(out, eq5, atol=1e-6)


def test_loss_hand_example() -> None:
    a = torch.zeros(1, 3, 2)
    n = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [5.0, 5.0]]])  # u = n − a = n
    pred = torch.tensor([[[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    # Errors on masked tokens: (−1, 0) and (−2, 0) -> (1 + 4) / (2 tokens · 2 dims) = 1.25.
    loss = unified_flow_matching_loss(pred, a, n, mask)
    assert torch.isclose(loss, torch.tensor(1.25))


@SMALL
@given(seed=st.integers(0, 10_000))
def test_all_ones_mask_is_sfm_mse(seed: int) -> None:
    torch.manual_seed(seed)
    pred, a, n = torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.ones(2, 4, dtype=torch.bool)
    expected = torch.nn.functional.mse_loss(pred, velocity_target(a, n))
    assert torch.allclose(unified_flow_matching_loss(pred, a, n, mask), expected, atol=1e-6)


def test_padded_tokens_change_neither_loss_nor_gradients() -> None:
    torch.manual_seed(3)
    a, n = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    mask = torch.rand(2, 5) < 0.7
    mask[:, 0] = True
    valid = torch.ones(2, 5, dtype=torch.bool)
    valid[0, 3:] = False
    pred1 = torch.randn(2, 5, 3, requires_grad=True)
    loss1 = unified_flow_matching_loss(pred1, a, n, mask, valid=valid)
    loss1.backward()

    pred2 = pred1.detach().clone()
    pred2[0, 3:] = torch.nan
    pred2.requires_grad_(True)
    a2 = a.clone()
    a2[0, 3:] = 1e6
    loss2 = unified_flow_matching_loss(pred2, a2, n, mask, valid=valid)
    loss2.backward()
    assert torch.equal(loss1, loss2)
    assert torch.equal(pred1.grad, pred2.grad)
    assert bool((pred2.grad[0, 3:] == 0).all())
    # Normaliser counts only masked and valid tokens.
    sup = mask & valid
    manual = ((pred1 - (n - a)) ** 2).sum(-1)[sup].sum() / (sup.sum() * 3)
    assert torch.allclose(loss1, manual)


def test_unmasked_tokens_are_not_supervised() -> None:
    torch.manual_seed(4)
    a, n = torch.randn(1, 4, 2), torch.randn(1, 4, 2)
    mask = torch.tensor([[True, False, True, False]])
    pred = torch.randn(1, 4, 2)
    base = unified_flow_matching_loss(pred, a, n, mask)
    pred_changed = pred.clone()
    pred_changed[~mask] += 10.0
    assert torch.equal(unified_flow_matching_loss(pred_changed, a, n, mask), base)


def test_no_supervised_token_gives_zero_with_grad() -> None:
    pred = torch.randn(2, 3, 2, requires_grad=True)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    loss = unified_flow_matching_loss(pred, torch.zeros(2, 3, 2), torch.ones(2, 3, 2), mask)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros(2, 3, 2))


def test_loss_validates() -> None:
    x = torch.zeros(1, 3, 2)
    with pytest.raises(TypeError, match="mask"):
        unified_flow_matching_loss(x, x, x, torch.ones(1, 3))
    with pytest.raises(ValueError, match="valid"):
        unified_flow_matching_loss(
            x, x, x, torch.ones(1, 3, dtype=torch.bool), valid=torch.ones(1, 2, dtype=torch.bool)
        )
