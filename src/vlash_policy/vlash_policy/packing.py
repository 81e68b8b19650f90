"""Shared-observation packing of offset branches into one sequence (VLASH Sec. 4.3, Fig. 4).

Fine-tuning with offset augmentation (VLASH Sec. 4.2) trains on pairs
``(o_t, s_{t+δ}, A_{t+δ})`` for several offsets δ. VLASH Sec. 4.3 encodes the observation
``o_t`` once and packs every offset branch behind it:

    [o_t, (s_{t+δ_0}, A_{t+δ_0}), ..., (s_{t+δ_N}, A_{t+δ_N})]

with the attention pattern of Fig. 4:

* observation (prefix) tokens attend to each other bidirectionally and never to a branch;
* the tokens of branch k attend to the whole observation and to branch k only;
* the position ids of every branch restart at ``len(o_t)``,

so each branch sees exactly what it would see in the unpacked sequence ``[o_t, branch_k]``
("equivalent to training on multiple (o_t, s_{t+δ}, A_{t+δ}) examples that share the same o_t,
but we only encode o_t once", VLASH Sec. 4.3).

The pattern is written once, as a FlexAttention ``mask_mod`` predicate (:func:`mask_mod`). It
drives both the FlexAttention :class:`~torch.nn.attention.flex_attention.BlockMask`, whose
fully masked blocks (branch x other branch) are skipped, and the dense boolean mask used with
``F.scaled_dot_product_attention``. The dense path is the one used for training on CPU, where
FlexAttention has no backward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional torch alias
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

MaskMod = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
Backend = Literal["sdpa", "flex"]
BACKENDS: tuple[str, ...] = ("sdpa", "flex")

# branch_ids() value of observation tokens; branches are numbered 0..N.
PREFIX_ID = -1


@dataclass(frozen=True)
class PackedLayout:
    """Token layout of one packed sequence ``[o_t, branch_0, ..., branch_N]`` (VLASH Fig. 4).

    Attributes:
        prefix_len: number of observation tokens ``len(o_t)`` (may be 0).
        branch_lens: token count of each offset branch ``(s_{t+δ_k}, A_{t+δ_k})``.
    """

    prefix_len: int
    branch_lens: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.prefix_len, bool) or not isinstance(self.prefix_len, int):
            raise TypeError(f"prefix_len must be an int, got {type(self.prefix_len).__name__}")
        if self.prefix_len < 0:
            raise ValueError(f"prefix_len must be >= 0, got {self.prefix_len}")
        if not isinstance(self.branch_lens, tuple):
            raise TypeError(
                f"branch_lens must be a tuple of ints, got {type(self.branch_lens).__name__}"
            )
        if len(self.branch_lens) < 1:
            raise ValueError("branch_lens must hold at least 1 branch, got 0")
        for k, n in enumerate(self.branch_lens):
            if isinstance(n, bool) or not isinstance(n, int):
                raise TypeError(f"branch_lens[{k}] must be an int, got {type(n).__name__}")
            if n < 1:
                raise ValueError(f"branch_lens[{k}] must be >= 1, got {n}")

    @property
    def total_len(self) -> int:
        """Length T of the packed sequence."""
        return self.prefix_len + sum(self.branch_lens)

    @property
    def num_branches(self) -> int:
        return len(self.branch_lens)

    def branch_slices(self) -> tuple[slice, ...]:
        """Position of each branch in the packed sequence."""
        slices = []
        start = self.prefix_len
        for n in self.branch_lens:
            slices.append(slice(start, start + n))
            start += n
        return tuple(slices)

    def branch_ids(self) -> Tensor:
        """(T,) long: ``PREFIX_ID`` (-1) for observation tokens, k for tokens of branch k."""
        ids = [torch.full((self.prefix_len,), PREFIX_ID, dtype=torch.long)]
        ids += [torch.full((n,), k, dtype=torch.long) for k, n in enumerate(self.branch_lens)]
        return torch.cat(ids)

    def position_ids(self) -> Tensor:
        """(T,) long: prefix 0..P-1, every branch restarts at P (VLASH Sec. 4.3, Fig. 4)."""
        parts = [torch.arange(self.prefix_len, dtype=torch.long)]
        parts += [
            torch.arange(self.prefix_len, self.prefix_len + n, dtype=torch.long)
            for n in self.branch_lens
        ]
        return torch.cat(parts)


def mask_mod(layout: PackedLayout) -> MaskMod:
    """The VLASH Fig. 4 attention pattern as a FlexAttention ``mask_mod`` (True = may attend).

    ``q_idx``/``kv_idx`` are absolute positions in the packed sequence. Only tensor ops are
    used, so the same predicate runs under ``create_block_mask``'s vmap, inside compiled flex
    kernels, and on broadcast index grids for :func:`dense_mask`.
    """
    ids = layout.branch_ids()

    def predicate(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        ids_on = ids.to(q_idx.device)
        q_branch = ids_on[q_idx]
        kv_branch = ids_on[kv_idx]
        # Every token sees the observation; a branch token also sees its own branch. Prefix
        # tokens share PREFIX_ID, so "same id" also yields prefix->prefix, and since a
        # prefix query never matches a branch id, the observation never sees a branch.
        return (kv_branch == PREFIX_ID) | (q_branch == kv_branch)

    return predicate


def _query_rows(layout: PackedLayout, query_offset: int, query_len: int | None) -> int:
    """Validate the query row window and return its length."""
    total = layout.total_len
    if isinstance(query_offset, bool) or not isinstance(query_offset, int):
        raise TypeError(f"query_offset must be an int, got {type(query_offset).__name__}")
    if not 0 <= query_offset < total:
        raise ValueError(f"query_offset must be in [0, {total}), got {query_offset}")
    if query_len is None:
        return total - query_offset
    if query_len < 1 or query_offset + query_len > total:
        raise ValueError(
            f"query_len must be in [1, {total - query_offset}] for query_offset={query_offset} "
            f"and total_len={total}, got {query_len}"
        )
    return query_len


def dense_mask(
    layout: PackedLayout,
    *,
    query_offset: int = 0,
    query_len: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """(Q, T) bool mask (True = may attend) for query rows ``[query_offset, query_offset+Q)``.

    Built by evaluating :func:`mask_mod` on the index grid; a module that only queries the
    branch tokens (e.g. an action expert) passes ``query_offset=layout.prefix_len``.
    """
    rows = _query_rows(layout, query_offset, query_len)
    q_idx = torch.arange(query_offset, query_offset + rows, device=device)[:, None]
    kv_idx = torch.arange(layout.total_len, device=device)[None, :]
    zero = torch.zeros((), dtype=torch.long, device=device)
    return mask_mod(layout)(zero, zero, q_idx, kv_idx)


def block_mask(
    layout: PackedLayout,
    *,
    query_offset: int = 0,
    query_len: int | None = None,
    block_size: int = 128,
    device: torch.device | str = "cpu",
) -> BlockMask:
    """FlexAttention BlockMask of the same rows as :func:`dense_mask` (shared over batch/heads).

    Blocks that are fully masked (one branch's queries against another branch's keys) are
    absent from the BlockMask, so flex attention skips them.
    """
    rows = _query_rows(layout, query_offset, query_len)
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    absolute = mask_mod(layout)

    def shifted(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        return absolute(b, h, q_idx + query_offset, kv_idx)

    return create_block_mask(
        shifted, None, None, rows, layout.total_len, device=device, BLOCK_SIZE=block_size
    )


@functools.lru_cache(maxsize=64)
def _cached_dense_mask(
    layout: PackedLayout, query_offset: int, query_len: int, device: torch.device
) -> Tensor:
    # Every layer of a forward pass asks for the same mask; build it once.
    return dense_mask(layout, query_offset=query_offset, query_len=query_len, device=device)


@functools.lru_cache(maxsize=64)
def _cached_block_mask(
    layout: PackedLayout, query_offset: int, query_len: int, device: torch.device
) -> BlockMask:
    # create_block_mask evaluates the predicate over the whole grid (about a second for
    # ~1k tokens on CPU), far too slow to repeat per layer and per step.
    return block_mask(layout, query_offset=query_offset, query_len=query_len, device=device)


@functools.cache
def _compiled_flex_attention() -> Callable[..., Tensor]:
    # Without torch.compile flex_attention materialises the full score matrix and skips
    # nothing; compile once per process (static shapes: a new layout recompiles rather than
    # tracing symbolic shapes through the block-sparse kernel).
    return torch.compile(flex_attention, dynamic=False)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    layout: PackedLayout,
    *,
    query_offset: int = 0,
    backend: Backend = "sdpa",
) -> Tensor:
    """Scaled dot-product attention under the VLASH Fig. 4 mask.

    Args:
        q: (B, Hh, Q, E) queries for packed rows ``[query_offset, query_offset + Q)``.
        k, v: (B, Hkv, T, E) keys/values over the whole packed sequence, ``T = total_len``;
            ``Hkv`` must divide ``Hh`` (grouped-query attention repeats each kv head).
        layout: the packed layout.
        query_offset: absolute position of the first query row.
        backend: ``"sdpa"`` (dense boolean mask, supports backward everywhere) or ``"flex"``
            (compiled FlexAttention with the BlockMask; no backward on CPU).

    Returns:
        (B, Hh, Q, E) attention output.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError(f"{name} must be 4-D (B, heads, len, dim), got shape {tuple(t.shape)}")
    if k.shape != v.shape:
        raise ValueError(
            f"k and v must have equal shapes, got {tuple(k.shape)} and {tuple(v.shape)}"
        )
    if k.shape[2] != layout.total_len:
        raise ValueError(
            f"k/v length must equal layout.total_len={layout.total_len}, got {k.shape[2]}"
        )
    if q.shape[0] != k.shape[0] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"q {tuple(q.shape)} and k {tuple(k.shape)} must agree on batch and head dim"
        )
    heads, kv_heads = q.shape[1], k.shape[1]
    if heads % kv_heads != 0:
        raise ValueError(f"kv heads ({kv_heads}) must divide query heads ({heads})")
    rows = _query_rows(layout, query_offset, q.shape[2])
    if kv_heads != heads:
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
    if backend == "sdpa":
        mask = _cached_dense_mask(layout, query_offset, rows, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    mask = _cached_block_mask(layout, query_offset, rows, q.device)
    return _compiled_flex_attention()(q, k, v, block_mask=mask)


def unpack_branches(x: Tensor, layout: PackedLayout) -> list[Tensor]:
    """Split a packed (B, T, ...) tensor into the per-branch (B, len_k, ...) slices."""
    if x.dim() < 2 or x.shape[1] != layout.total_len:
        raise ValueError(
            f"x must have shape (B, {layout.total_len}, ...) for this layout, got {tuple(x.shape)}"
        )
    return [x[:, s] for s in layout.branch_slices()]
