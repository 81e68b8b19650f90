"""Training-step cost of shared-observation packing vs separate sequences (VLASH Sec. 4.3, 5.3).

VLASH packs one observation ``o_t`` with ``Δmax + 1`` offset branches into one sequence and
reports a 3.26x faster forward-backward step than standard fine-tuning at the same effective
batch size (VLASH Sec. 5.3, Table 3; pi0.5 on 4xH100). This command measures the same
comparison for a small pre-norm transformer on this machine:

* packed:   one sequence ``[o_t, branch_0, ..., branch_Δmax]`` under the Fig. 4 mask;
* unpacked: a batch of ``Δmax + 1`` sequences ``[o_t, branch_k]`` (equal effective batch).

Steps of the two modes alternate, so load from other processes on a shared machine moves
both medians alike: the absolute milliseconds vary from run to run, the ratio much less.

The toy transformer here is also the model of the packing equivalence tests.

Usage: ``python -m vlash_bench.packing_step [--layers 4 --width 256 --heads 4
--prefix 700 --branch 50 --max-offset 3 --repeats 5 --json PATH]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional torch alias
from torch import Tensor, nn
from tqdm import tqdm

from vlash_policy.model.expert import apply_rope
from vlash_policy.packing import Backend, PackedLayout, attention, unpack_branches

PAPER_SPEEDUP = 3.26  # VLASH Sec. 5.3, Table 3: per-step speed-up of shared observation
ROPE_BASE = 10000.0


def rope_tables(position_ids: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """(T, head_dim) cos/sin rotary tables for the given (T,) positions."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = position_ids.to(torch.float32)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


class Block(nn.Module):
    """Pre-norm transformer block whose attention follows the packed layout."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(
        self, x: Tensor, layout: PackedLayout, cos: Tensor, sin: Tensor, backend: Backend
    ) -> Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos[None], sin[None]), apply_rope(k, cos[None], sin[None])
        out = attention(q, k, v, layout, backend=backend)
        x = x + self.proj(out.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.norm2(x))


class ToyTransformer(nn.Module):
    """Small pre-norm transformer with RoPE on ``layout.position_ids()`` (VLASH Sec. 4.3)."""

    def __init__(self, layers: int, width: int, heads: int) -> None:
        super().__init__()
        for name, value in (("layers", layers), ("width", width), ("heads", heads)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if width % heads != 0 or (width // heads) % 2 != 0:
            raise ValueError(
                f"width ({width}) must be a multiple of heads ({heads}) with an even head dim"
            )
        self.head_dim = width // heads
        self.embed = nn.Linear(width, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, width)

    def forward(self, x: Tensor, layout: PackedLayout, backend: Backend = "sdpa") -> Tensor:
        """(B, T, width) token features -> (B, T, width) outputs for the packed layout."""
        if x.dim() != 3 or x.shape[1] != layout.total_len:
            raise ValueError(
                f"x must have shape (B, {layout.total_len}, width), got {tuple(x.shape)}"
            )
        cos, sin = rope_tables(layout.position_ids().to(x.device), self.head_dim)
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, layout, cos, sin, backend)
        return self.head(self.norm(h))


def packed_forward(
    model: ToyTransformer, obs: Tensor, branches: Sequence[Tensor], backend: Backend = "sdpa"
) -> list[Tensor]:
    """Per-branch outputs of one packed sequence ``[obs, branch_0, ..., branch_N]``."""
    layout = PackedLayout(obs.shape[1], tuple(b.shape[1] for b in branches))
    out = model(torch.cat([obs, *branches], dim=1), layout, backend)
    return unpack_branches(out, layout)


def unpacked_forward(
    model: ToyTransformer, obs: Tensor, branches: Sequence[Tensor]
) -> list[Tensor]:
    """Per-branch outputs of the standard batch of separate sequences ``[obs, branch_k]``."""
    lens = {b.shape[1] for b in branches}
    if len(lens) != 1:
        raise ValueError(f"unpacked branches are batched, so lengths must be equal, got {lens}")
    layout = PackedLayout(obs.shape[1], (lens.pop(),))
    batch = torch.cat([torch.cat([obs, b], dim=1) for b in branches], dim=0)
    out = unpack_branches(model(batch, layout), layout)[0]
    return list(out.split(obs.shape[0], dim=0))


def branch_loss(outputs: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
    """Mean over branches of each branch's MSE, the same normalisation packed or not."""
    if len(outputs) != len(targets):
        raise ValueError(f"got {len(outputs)} outputs for {len(targets)} targets")
    return torch.stack([F.mse_loss(o, t) for o, t in zip(outputs, targets, strict=True)]).mean()


def _time_ms(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return (time.perf_counter() - start) * 1000.0


def run(
    *, layers: int, width: int, heads: int, prefix: int, branch: int, max_offset: int, repeats: int
) -> dict[str, object]:
    """Median forward+backward milliseconds of one step, packed vs unpacked."""
    for name, value in (("prefix", prefix), ("branch", branch), ("repeats", repeats)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if max_offset < 0:
        raise ValueError(f"max_offset must be >= 0, got {max_offset}")
    torch.manual_seed(0)
    model = ToyTransformer(layers, width, heads)
    n_branches = max_offset + 1
    obs = torch.randn(1, prefix, width)
    branches = [torch.randn(1, branch, width) for _ in range(n_branches)]
    targets = [torch.randn(1, branch, width) for _ in range(n_branches)]

    def step(forward: Callable[[], list[Tensor]]) -> Callable[[], None]:
        def run_step() -> None:
            model.zero_grad(set_to_none=True)
            branch_loss(forward(), targets).backward()

        return run_step

    packed = step(lambda: packed_forward(model, obs, branches))
    unpacked = step(lambda: unpacked_forward(model, obs, branches))
    packed_times: list[float] = []
    unpacked_times: list[float] = []
    with tqdm(total=2 * (repeats + 1), desc="packing_step", unit="step", delay=2.0) as bar:
        packed()  # warm-up: allocator, thread pool, cached masks
        unpacked()
        bar.update(2)
        # Alternate the two so load from other processes hits both alike.
        for _ in range(repeats):
            packed_times.append(_time_ms(packed))
            unpacked_times.append(_time_ms(unpacked))
            bar.update(2)
    packed_ms = statistics.median(packed_times)
    unpacked_ms = statistics.median(unpacked_times)
    return {
        "config": {
            "layers": layers,
            "width": width,
            "heads": heads,
            "prefix": prefix,
            "branch": branch,
            "max_offset": max_offset,
            "repeats": repeats,
            "threads": torch.get_num_threads(),
        },
        "packed_tokens": prefix + n_branches * branch,
        "unpacked_tokens": n_branches * (prefix + branch),
        "packed_ms": packed_ms,
        "unpacked_ms": unpacked_ms,
        "speedup": unpacked_ms / packed_ms,
        "paper_speedup": PAPER_SPEEDUP,
    }


def format_table(result: dict[str, object]) -> str:
    """The human-readable summary printed by :func:`main`."""
    cfg = result["config"]
    n = cfg["max_offset"] + 1
    packed_seq = f"1 x ({cfg['prefix']} + {n}x{cfg['branch']})"
    unpacked_seq = f"{n} x ({cfg['prefix']} + {cfg['branch']})"
    rows = [
        f"shared-observation packing, {cfg['layers']} layers, width {cfg['width']}, "
        f"{cfg['heads']} heads, median of {cfg['repeats']} forward+backward steps",
        f"{'mode':<10} {'sequences':>22} {'tokens':>7} {'ms/step':>9}",
        f"{'packed':<10} {packed_seq:>22} {result['packed_tokens']:>7} {result['packed_ms']:>9.1f}",
        f"{'unpacked':<10} {unpacked_seq:>22} {result['unpacked_tokens']:>7} "
        f"{result['unpacked_ms']:>9.1f}",
        f"speed-up {result['speedup']:.2f}x  (VLASH paper, pi0.5 on 4xH100: "
        f"{result['paper_speedup']:.2f}x)",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--prefix", type=int, default=700, help="observation tokens")
    parser.add_argument("--branch", type=int, default=50, help="state + action tokens per offset")
    parser.add_argument("--max-offset", type=int, default=3, help="Δmax; Δmax+1 branches")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run(
        layers=args.layers,
        width=args.width,
        heads=args.heads,
        prefix=args.prefix,
        branch=args.branch,
        max_offset=args.max_offset,
        repeats=args.repeats,
    )
    print(format_table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
