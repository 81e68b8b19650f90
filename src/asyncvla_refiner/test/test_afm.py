"""Tests for asynchronous flow matching (AsyncVLA Eq. (2), Algorithm 1)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncvla_refiner.afm import afm_start, sample_afm
from asyncvla_refiner.flow_matching import sample_sfm

SMALL = settings(max_examples=25, deadline=None)


def _coupled_velocity(weight: torch.Tensor):
    # Mixes tokens, so a regenerated token depends on the kept (unmasked) context.
    def velocity(x: torch.Tensor, token_time: torch.Tensor) -> torch.Tensor:
        return torch.einsum("lk,bkd->bld", weight, x) + token_time[..., None]

    return velocity


def test_afm_start_hand_example() -> None:
    sfm = torch.tensor([[[1.0], [2.0], [3.0]]])
    noise = torch.tensor([[[-1.0], [-2.0], [-3.0]]])
    mask = torch.tensor([[False, True, False]])
    assert torch.equal(afm_start(sfm, mask, noise), torch.tensor([[[1.0], [-2.0], [3.0]]]))


def test_afm_start_validates() -> None:
    with pytest.raises(ValueError, match="noise"):
        afm_start(torch.zeros(1, 3, 2), torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 3, 1))


@SMALL
@given(seed=st.integers(0, 10_000), num_steps=st.integers(1, 8))
def test_sample_afm_keeps_unmasked_tokens_bit_equal(seed: int, num_steps: int) -> None:
    torch.manual_seed(seed)
    sfm, noise = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    mask = torch.rand(2, 6) < 0.5
    out = sample_afm(
        _coupled_velocity(torch.randn(6, 6) * 0.2), sfm, mask, noise, num_steps=num_steps
    )
    assert torch.equal(out[~mask], sfm[~mask])


def test_sample_afm_changes_only_masked_tokens() -> None:
    torch.manual_seed(1)
    sfm, noise = torch.randn(2, 6, 3), torch.randn(2, 6, 3)
    mask = torch.tensor([[True, False, False, True, False, False]] * 2)
    out = sample_afm(_coupled_velocity(torch.randn(6, 6) * 0.2), sfm, mask, noise)
    changed = (out != sfm).any(dim=-1)
    assert torch.equal(changed, mask)


@SMALL
@given(seed=st.integers(0, 10_000), num_steps=st.integers(1, 8))
def test_all_ones_mask_equals_sfm_exactly(seed: int, num_steps: int) -> None:
    torch.manual_seed(seed)
    sfm, noise = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    velocity = _coupled_velocity(torch.randn(5, 5) * 0.3)
    mask = torch.ones(2, 5, dtype=torch.bool)
    afm = sample_afm(velocity, sfm, mask, noise, num_steps=num_steps)
    assert torch.equal(afm, sample_sfm(velocity, noise, num_steps=num_steps))


def test_velocity_fn_sees_time_zero_on_unmasked_tokens() -> None:
    torch.manual_seed(2)
    sfm, noise = torch.randn(1, 4, 2), torch.randn(1, 4, 2)
    mask = torch.tensor([[False, True, True, False]])
    times: list[torch.Tensor] = []

    def velocity(x: torch.Tensor, token_time: torch.Tensor) -> torch.Tensor:
        times.append(token_time.clone())
        return x

    sample_afm(velocity, sfm, mask, noise, num_steps=5)
    assert len(times) == 5
    for token_time in times:
        assert bool((token_time[~mask] == 0).all())
        assert bool((token_time[mask] > 0).all())


def test_context_tokens_influence_regenerated_tokens() -> None:
    # AFM's point: kept SFM tokens are context. Changing a kept token changes the masked output.
    torch.manual_seed(3)
    sfm, noise = torch.randn(1, 4, 2), torch.randn(1, 4, 2)
    mask = torch.tensor([[False, True, True, False]])
    velocity = _coupled_velocity(torch.ones(4, 4) * 0.25)
    out_a = sample_afm(velocity, sfm, mask, noise)
    sfm_b = sfm.clone()
    sfm_b[0, 0] += 1.0
    out_b = sample_afm(velocity, sfm_b, mask, noise)
    assert not torch.allclose(out_a[mask], out_b[mask])
