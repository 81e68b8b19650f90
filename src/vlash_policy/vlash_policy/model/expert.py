"""π0-style action expert: a second transformer stack that reads the backbone's prefix KV cache.

The suffix of the sequence is one state token followed by H action tokens per offset branch
(VLASH Sec. 4.3, Fig. 4). At layer i the suffix queries attend to the LM's layer-i prefix keys and
values (already RoPE-rotated by the LM) concatenated with the suffix's own keys and values, so the
expert shares the LM's layer count, kv-head count and head_dim but may be narrower. The action
tokens enter through AsyncVLA's asynchronous time embedding (Sec. 3.1) so every token carries its
own FM time τ·m_l.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional torch alias
from torch import Tensor, nn


def rotate_half(x: Tensor) -> Tensor:
    """(x1, x2) -> (−x2, x1) over the last dim: the RoPE pairing used by Llama/Qwen2/Gemma."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate (B, heads, S, head_dim) by per-token (B, S, head_dim) cos/sin."""
    cos = cos[:, None]
    sin = sin[:, None]
    return x * cos + rotate_half(x) * sin


class ExpertLayer(nn.Module):
    """Pre-norm attention + gated-SiLU MLP block whose attention also sees the prefix KV."""

    def __init__(
        self, *, width: int, mlp_width: int, num_heads: int, num_kv_heads: int, head_dim: int
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.attn_norm = nn.RMSNorm(width, eps=1e-6)
        self.q_proj = nn.Linear(width, num_heads * head_dim)
        self.k_proj = nn.Linear(width, num_kv_heads * head_dim)
        self.v_proj = nn.Linear(width, num_kv_heads * head_dim)
        self.o_proj = nn.Linear(num_heads * head_dim, width, bias=False)
        self.mlp_norm = nn.RMSNorm(width, eps=1e-6)
        self.gate_proj = nn.Linear(width, mlp_width, bias=False)
        self.up_proj = nn.Linear(width, mlp_width, bias=False)
        self.down_proj = nn.Linear(mlp_width, width, bias=False)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        prefix_keys: Tensor,
        prefix_values: Tensor,
        mask: Tensor,
    ) -> Tensor:
        """x (B, S, W); prefix K/V (B, Hkv, P, hd); mask (B, 1, S, P + S) bool, True = attend."""
        batch, length, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        keys = torch.cat([prefix_keys.to(k.dtype), k], dim=2)
        values = torch.cat([prefix_values.to(v.dtype), v], dim=2)
        attn = F.scaled_dot_product_attention(
            q, keys, values, attn_mask=mask, enable_gqa=self.num_heads != self.num_kv_heads
        )
        x = x + self.o_proj(attn.transpose(1, 2).reshape(batch, length, -1))
        h = self.mlp_norm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class ActionExpert(nn.Module):
    """Stack of :class:`ExpertLayer`, one per LM layer, with a final norm."""

    def __init__(
        self,
        *,
        num_layers: int,
        width: int,
        mlp_width: int,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
    ) -> None:
        super().__init__()
        if num_heads % num_kv_heads:
            raise ValueError(f"num_kv_heads ({num_kv_heads}) must divide num_heads ({num_heads})")
        self.layers = nn.ModuleList(
            ExpertLayer(
                width=width,
                mlp_width=mlp_width,
                num_heads=num_heads,
                num_kv_heads=num_kv_heads,
                head_dim=head_dim,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.RMSNorm(width, eps=1e-6)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        prefix_keys: tuple[Tensor, ...],
        prefix_values: tuple[Tensor, ...],
        mask: Tensor,
    ) -> Tensor:
        if len(prefix_keys) != len(self.layers):
            raise ValueError(
                f"prefix cache has {len(prefix_keys)} layers, the expert has {len(self.layers)}"
            )
        for layer, keys, values in zip(self.layers, prefix_keys, prefix_values, strict=True):
            x = layer(x, cos, sin, keys, values, mask)
        return self.norm(x)
