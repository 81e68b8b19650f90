"""Tests of shared-observation packing (VLASH Sec. 4.3, Fig. 4)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention.flex_attention import flex_attention

from vlash_policy.packing import (
    PackedLayout,
    attention,
    block_mask,
    dense_mask,
    mask_mod,
)

layouts = st.builds(
    PackedLayout,
    prefix_len=st.integers(0, 6),
    branch_lens=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
)


def reference_mask(layout: PackedLayout) -> torch.Tensor:
    """Fig. 4 written out block by block, independently of the predicate."""
    total, p = layout.total_len, layout.prefix_len
    mask = torch.zeros(total, total, dtype=torch.bool)
    mask[:p, :p] = True
    start = p
    for n in layout.branch_lens:
        mask[start : start + n, :p] = True
        mask[start : start + n, start : start + n] = True
        start += n
    return mask


# --- layout -----------------------------------------------------------------------------


def test_layout_hand_example():
    layout = PackedLayout(3, (2, 1))
    assert layout.total_len == 6
    assert layout.num_branches == 2
    assert layout.branch_slices() == (slice(3, 5), slice(5, 6))
    assert layout.branch_ids().tolist() == [-1, -1, -1, 0, 0, 1]
    assert layout.position_ids().tolist() == [0, 1, 2, 3, 4, 3]


@pytest.mark.parametrize(
    ("prefix_len", "branch_lens", "error"),
    [
        (-1, (2,), ValueError),
        (3, (), ValueError),
        (3, (2, 0), ValueError),
        (3, [2], TypeError),
        (2.0, (2,), TypeError),
    ],
)
def test_layout_rejects_invalid(prefix_len, branch_lens, error):
    with pytest.raises(error):
        PackedLayout(prefix_len, branch_lens)


@settings(max_examples=25, deadline=None)
@given(layouts)
def test_position_ids_restart_at_prefix_len_per_branch(layout):
    pos = layout.position_ids()
    assert pos[: layout.prefix_len].tolist() == list(range(layout.prefix_len))
    for s, n in zip(layout.branch_slices(), layout.branch_lens, strict=True):
        alone = PackedLayout(layout.prefix_len, (n,)).position_ids()
        assert torch.equal(pos[s], alone[layout.prefix_len :])
        assert pos[s].tolist() == list(range(layout.prefix_len, layout.prefix_len + n))


# --- mask -------------------------------------------------------------------------------


def test_dense_mask_hand_example():
    expected = [
        [1, 1, 0, 0, 0],  # observation rows see the observation only
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],  # branch 0 (1 token)
        [1, 1, 0, 1, 1],  # branch 1 (2 tokens)
        [1, 1, 0, 1, 1],
    ]
    mask = dense_mask(PackedLayout(2, (1, 2)))
    assert mask.dtype == torch.bool
    assert mask.int().tolist() == expected


@settings(max_examples=25, deadline=None)
@given(layouts)
def test_dense_mask_matches_fig4(layout):
    mask = dense_mask(layout)
    assert torch.equal(mask, reference_mask(layout))
    p = layout.prefix_len
    assert not mask[:p, p:].any(), "observation rows must never see a branch"
    for k, s in enumerate(layout.branch_slices()):
        rows = mask[s]
        assert rows[:, :p].all()
        assert rows[:, s].all()
        others = [o for j, o in enumerate(layout.branch_slices()) if j != k]
        for o in others:
            assert not rows[:, o].any(), "a branch must not see another branch"


@settings(max_examples=25, deadline=None)
@given(layouts, st.data())
def test_dense_mask_query_window_is_row_slice(layout, data):
    offset = data.draw(st.integers(0, layout.total_len - 1))
    length = data.draw(st.integers(1, layout.total_len - offset))
    window = dense_mask(layout, query_offset=offset, query_len=length)
    assert torch.equal(window, dense_mask(layout)[offset : offset + length])


@pytest.mark.parametrize(
    ("offset", "length"), [(-1, None), (7, None), (2, 0), (2, 6), (True, None)]
)
def test_dense_mask_rejects_bad_window(offset, length):
    with pytest.raises((ValueError, TypeError)):
        dense_mask(PackedLayout(3, (2, 2)), query_offset=offset, query_len=length)


def test_mask_mod_is_flex_form():
    layout = PackedLayout(2, (1, 2))
    pred = mask_mod(layout)
    zero = torch.tensor(0)
    assert bool(pred(zero, zero, torch.tensor(3), torch.tensor(1)))  # branch 1 -> observation
    assert not bool(pred(zero, zero, torch.tensor(3), torch.tensor(2)))  # branch 1 -> branch 0
    assert not bool(pred(zero, zero, torch.tensor(0), torch.tensor(4)))  # obs -> branch 1


@pytest.mark.parametrize("query_offset", [0, 5])
def test_block_mask_densifies_to_dense_mask(query_offset):
    layout = PackedLayout(5, (3, 4, 2))
    bm = block_mask(layout, query_offset=query_offset, block_size=4)
    q_len = layout.total_len - query_offset
    dense_from_blocks = bm.to_dense()[0, 0]  # (q blocks, kv blocks) of computed blocks
    expected = dense_mask(layout, query_offset=query_offset)
    # every allowed (q, kv) pair must lie in a computed block
    for qi, ki in expected.nonzero().tolist():
        assert dense_from_blocks[qi // 4, ki // 4]
    assert bm.shape[-2:] == (q_len, layout.total_len)


def test_block_mask_skips_blocks_across_branches():
    # One 128-token observation block and 3 branches of 2 blocks each: an observation block
    # computes 1 kv block, a branch block computes observation + own 2 blocks = 3 of 7.
    layout = PackedLayout(128, (256, 256, 256))
    bm = block_mask(layout, block_size=128)
    computed = bm.kv_num_blocks[0, 0] + bm.full_kv_num_blocks[0, 0]
    assert computed.tolist() == [1, 3, 3, 3, 3, 3, 3]
    n_blocks = layout.total_len // 128
    assert bool((computed < n_blocks).all())
    assert bm.sparsity() == pytest.approx(100.0 * (1 - 19 / n_blocks**2))


# --- attention --------------------------------------------------------------------------


def test_attention_sdpa_equals_explicit_softmax_with_gqa():
    torch.manual_seed(0)
    layout = PackedLayout(3, (2, 3))
    q = torch.randn(2, 4, layout.total_len, 8)
    k = torch.randn(2, 2, layout.total_len, 8)
    v = torch.randn(2, 2, layout.total_len, 8)
    out = attention(q, k, v, layout)
    k_full = k.repeat_interleave(2, dim=1)  # query head h uses kv head h // 2
    v_full = v.repeat_interleave(2, dim=1)
    scores = q @ k_full.transpose(-1, -2) / math.sqrt(8)
    scores = scores.masked_fill(~reference_mask(layout), float("-inf"))
    expected = scores.softmax(-1) @ v_full
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_attention_query_offset_gives_suffix_rows():
    torch.manual_seed(1)
    layout = PackedLayout(4, (3, 3, 2))
    q, k, v = (torch.randn(1, 2, layout.total_len, 8) for _ in range(3))
    full = attention(q, k, v, layout)
    p = layout.prefix_len
    suffix = attention(q[:, :, p:], k, v, layout, query_offset=p)
    torch.testing.assert_close(suffix, full[:, :, p:], atol=1e-6, rtol=1e-6)


def test_attention_rejects_bad_inputs():
    layout = PackedLayout(2, (2,))
    q = torch.randn(1, 3, 4, 8)
    k = torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="kv heads"):
        attention(q, k, k, layout)
    with pytest.raises(ValueError, match="total_len"):
        attention(q, torch.randn(1, 3, 5, 8), torch.randn(1, 3, 5, 8), layout)
    with pytest.raises(ValueError, match="backend"):
        attention(q, q, q, layout, backend="xformers")
    with pytest.raises(ValueError, match="query_len"):
        attention(q, q, q, layout, query_offset=1)


def test_flex_with_block_mask_equals_dense_sdpa_eager():
    # Uncompiled flex on CPU still applies the BlockMask (and its partial-block mask_mod), so
    # this checks the block mask cheaply; the compiled kernel is covered by the slow test.
    torch.manual_seed(2)
    layout = PackedLayout(6, (5, 4, 7))
    p = layout.prefix_len
    q, k, v = (torch.randn(2, 2, layout.total_len, 16) for _ in range(3))
    bm = block_mask(layout, query_offset=p, block_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "called without torch.compile()"
        out = flex_attention(q[:, :, p:], k, v, block_mask=bm)
    expected = attention(q[:, :, p:], k, v, layout, query_offset=p)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
