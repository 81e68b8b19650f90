"""Tests for the confidence rater and its pseudo labels (AsyncVLA Sec. 3.2, Eq. (3), (6))."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.confidence_rater import (
    ConfidenceRater,
    per_token_error,
    pseudo_labels,
    rater_loss,
    refinement_mask,
)

SMALL = settings(max_examples=25, deadline=None)


def _rater(**kwargs: int) -> ConfidenceRater:
    torch.manual_seed(0)
    return ConfidenceRater(context_dim=6, action_dim=3, hidden_size=16, num_heads=2, **kwargs)


def test_rater_outputs_probabilities_per_action_token() -> None:
    rater = _rater()
    torch.manual_seed(1)
    p = rater(torch.randn(2, 5, 6), torch.randn(2, 7, 3))
    assert p.shape == (2, 7)
    assert bool(((p > 0) & (p < 1)).all())


def test_rater_attention_is_bidirectional_and_uses_context() -> None:
    rater = _rater()
    torch.manual_seed(2)
    context, actions = torch.randn(1, 4, 6), torch.randn(1, 6, 3)
    base = rater(context, actions)
    later = actions.clone()
    later[0, -1] += 2.0
    # Full attention: the first token's confidence depends on a later action.
    assert not torch.isclose(rater(context, later)[0, 0], base[0, 0])
    assert not torch.allclose(rater(context + 1.0, actions), base)


def test_rater_distinguishes_positions() -> None:
    rater = _rater()
    same = torch.ones(1, 5, 3)
    p = rater(torch.zeros(1, 2, 6), same)
    assert not torch.allclose(p[0, 0], p[0, 1])


def test_rater_ignores_padded_context() -> None:
    rater = _rater()
    torch.manual_seed(3)
    context, actions = torch.randn(2, 5, 6), torch.randn(2, 4, 3)
    pad = torch.tensor([[False, False, False, True, True], [False] * 5])
    base = rater(context, actions, context_padding_mask=pad)
    changed = context.clone()
    changed[0, 3:] = 100.0
    assert torch.allclose(rater(changed, actions, context_padding_mask=pad), base, atol=1e-6)
    # Without the padding mask the same change is visible.
    assert not torch.allclose(rater(changed, actions), rater(context, actions), atol=1e-4)


def test_rater_validates_inputs() -> None:
    rater = _rater(max_chunk_length=4)
    with pytest.raises(ValueError, match="context"):
        rater(torch.randn(1, 2, 5), torch.randn(1, 3, 3))
    with pytest.raises(ValueError, match="max_chunk_length"):
        rater(torch.randn(1, 2, 6), torch.randn(1, 5, 3))
    with pytest.raises(TypeError, match="context_padding_mask"):
        rater(torch.randn(1, 2, 6), torch.randn(1, 3, 3), context_padding_mask=torch.zeros(1, 2))
    with pytest.raises(ValueError, match="divisible"):
        ConfidenceRater(context_dim=4, action_dim=2, hidden_size=10, num_heads=4)


def test_rater_learns_pseudo_labels() -> None:
    # A few optimiser steps on Eq. (6) labels must reduce the rater loss (trainable end to end).
    rater = _rater()
    torch.manual_seed(4)
    context, actions = torch.randn(4, 3, 6), torch.randn(4, 6, 3)
    target = actions + 0.5 * torch.randn(4, 6, 3)
    labels = pseudo_labels(per_token_error(actions, target))
    optim = torch.optim.Adam(rater.parameters(), lr=3e-3)
    first = rater_loss(rater(context, actions), labels).item()
    for _ in range(40):
        optim.zero_grad()
        loss = rater_loss(rater(context, actions), labels)
        loss.backward()
        optim.step()
    assert loss.item() < 0.5 * first


def test_refinement_mask_is_strict_threshold() -> None:
    p = torch.tensor([[0.1, 0.5, 0.49, 0.9]])
    assert torch.equal(refinement_mask(p, 0.5), torch.tensor([[True, False, True, False]]))
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(ValueError, match="threshold"):
            refinement_mask(p, bad)


def test_per_token_error_hand_example() -> None:
    pred = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
    target = torch.tensor([[[0.0, 0.0], [3.0, -1.0]]])
    assert torch.allclose(per_token_error(pred, target), torch.tensor([[2.5, 5.0]]))
    with pytest.raises(ValueError, match="target"):
        per_token_error(pred, target[..., :1])


def test_pseudo_labels_hand_example() -> None:
    e = torch.tensor([[0.0, 1.0, 2.0]])
    q = pseudo_labels(e, alpha=0.1, beta=0.8, eps=0.0 + 1e-12)
    assert torch.allclose(q, torch.tensor([[0.9, 0.5, 0.1]]), atol=1e-9)


@SMALL
@given(
    errors=st.lists(st.floats(0.0, 10.0), min_size=2, max_size=8),
    alpha=st.floats(0.0, 0.2),
    beta=st.floats(0.1, 0.8),
)
def test_pseudo_labels_range_and_order(errors: list[float], alpha: float, beta: float) -> None:
    e = torch.tensor([errors], dtype=torch.float64)
    q = pseudo_labels(e, alpha=alpha, beta=beta)
    assert bool((q >= 1 - alpha - beta - 1e-12).all()) and bool((q <= 1 - alpha + 1e-12).all())
    assert torch.isclose(q[0, e[0].argmin()], torch.tensor(1 - alpha, dtype=torch.float64))
    # Larger error never gets higher confidence.
    order = e[0].argsort()
    assert bool((q[0, order].diff() <= 1e-12).all())


def test_pseudo_labels_are_per_chunk_and_respect_valid() -> None:
    e = torch.tensor([[0.0, 1.0], [10.0, 30.0]])
    q = pseudo_labels(e, alpha=0.0, beta=1.0, eps=1e-9)
    assert torch.allclose(q, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), atol=1e-6)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    e3 = torch.tensor([[0.0, 1.0, 1e6], [0.0, 1.0, 2.0]])
    q3 = pseudo_labels(e3, alpha=0.0, beta=1.0, eps=1e-9, valid=valid)
    assert torch.allclose(q3[0, :2], torch.tensor([1.0, 0.0]), atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        pseudo_labels(e, alpha=0.5, beta=0.6)


def test_rater_loss_masks_invalid_tokens() -> None:
    conf = torch.tensor([[0.2, 0.9, 0.5]], requires_grad=True)
    labels = torch.tensor([[0.0, 1.0, 123.0]])
    valid = torch.tensor([[True, True, False]])
    loss = rater_loss(conf, labels, valid=valid)
    assert torch.isclose(loss, torch.tensor((0.04 + 0.01) / 2))
    loss.backward()
    assert conf.grad[0, 2] == 0
    none = rater_loss(conf, labels, valid=torch.zeros(1, 3, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad
    assert torch.isclose(rater_loss(conf, torch.zeros(1, 3)), (conf**2).mean())
