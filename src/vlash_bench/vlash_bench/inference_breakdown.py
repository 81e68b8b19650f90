"""Per-chunk inference latency split into prefix, SFM, rater and AFM (AsyncVLA Sec. 4, Table 6).

AsyncVLA reports the share of inference time spent in SFM 86.8 %, confidence rater 2.7 % and
AFM 10.5 %, where the SFM share includes building the vision-language KV cache and AFM is cheap
because it reuses that cache. This command measures our VLA (``vlash_policy.model``) on this
machine, for one observation per chunk and the default ``num_steps`` (10) Euler steps:

* with KV reuse: the prefix is encoded once and its cache serves every SFM step, the rater and
  every AFM step;
* without KV reuse: the prefix is recomputed at every velocity evaluation (and for the rater),
  the naive implementation.

It prints median and p95 per stage, our shares next to AsyncVLA's (prefix counted in SFM as in
their table) and whether one full inference fits one 30 Hz control period (33.3 ms).
Without ``--checkpoint`` the default config with random weights is used; the rater of a random
model masks roughly half the tokens, so AFM does real work.

Usage: ``python -m vlash_bench.inference_breakdown [--checkpoint DIR]
[--horizon 16..50] [--repeats N] [--threads 2] [--json PATH]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from vlash_policy.model import FlowVLA, InferenceTiming, Observation, VLAConfig
from vlash_policy.model.checkpoint import build_default_model, load_checkpoint
from vlash_sim.sample_statistics import percentile

PAPER_SHARES = {"sfm": 86.8, "rater": 2.7, "afm": 10.5}  # AsyncVLA Table 6, percent
CONTROL_PERIOD_S = 1.0 / 30.0
STAGES = ("prefix_s", "sfm_s", "rater_s", "afm_s", "total_s")
INSTRUCTION = "pick up the red cube and place it in the box"
HORIZON_RANGE = (16, 50)


def summarise(timings: Sequence[InferenceTiming]) -> dict[str, dict[str, float]]:
    """Minimum, median and p95 (milliseconds) of every stage.

    On a shared machine the minimum is the least load-sensitive estimate of the cost itself.
    """
    out = {}
    for stage in STAGES:
        values = [getattr(t, stage) * 1e3 for t in timings]
        out[stage.removesuffix("_s")] = {
            "min_ms": min(values),
            "median_ms": statistics.median(values),
            "p95_ms": percentile(values, 95.0),
        }
    return out


def shares(sfm: dict[str, dict[str, float]], rest: dict[str, dict[str, float]]) -> dict[str, float]:
    """Percent of the stage sum in AsyncVLA's grouping (prefix encoding counted in SFM).

    SFM and prefix come from ``sfm``, rater and AFM from ``rest``; the minimum of each stage is
    used because other processes on a shared machine only ever add time.
    """
    parts = {
        "sfm": sfm["prefix"]["min_ms"] + sfm["sfm"]["min_ms"],
        "rater": rest["rater"]["min_ms"],
        "afm": rest["afm"]["min_ms"],
    }
    total = sum(parts.values())
    return {stage: 100.0 * value / total for stage, value in parts.items()}


def run(
    model: FlowVLA, observation: Observation, *, repeats: int, warmup: int = 3, seed: int = 0
) -> dict[str, object]:
    """Time ``repeats`` chunks with and without KV reuse, alternating the two modes."""
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    state = torch.zeros(1, cfg.state_dim)
    cached: list[InferenceTiming] = []
    uncached: list[InferenceTiming] = []
    refined = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            noise = torch.randn(1, cfg.horizon, cfg.action_dim, generator=gen)
            afm_noise = torch.randn(1, cfg.horizon, cfg.action_dim, generator=gen)
            prefix = model.encode_prefix(
                observation.images, observation.input_ids, observation.attention_mask
            )
            with_cache = model.sample(prefix, state, noise, refine=True, afm_noise=afm_noise)
            without = model.sample(observation, state, noise, refine=True, afm_noise=afm_noise)
            if i >= warmup:
                cached.append(with_cache.timings)
                uncached.append(without.timings)
                refined.append(float(with_cache.refined_mask.float().mean()))
    with_kv = summarise(cached)
    without_kv = summarise(uncached)
    return {
        "horizon": cfg.horizon,
        "num_steps": cfg.num_steps,
        "prefix_tokens": int(prefix.length),
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "refined_fraction": statistics.mean(refined),
        "with_kv_reuse": with_kv,
        "without_kv_reuse": without_kv,
        "shares_with_kv_reuse_percent": shares(with_kv, with_kv),
        "shares_without_kv_reuse_percent": shares(without_kv, without_kv),
        # AsyncVLA's Table 6 accounting: SFM rebuilds the VL cache at every step, the rater and
        # AFM reuse the cache built by SFM.
        "shares_asyncvla_accounting_percent": shares(without_kv, with_kv),
        "asyncvla_shares_percent": PAPER_SHARES,
        "control_period_ms": CONTROL_PERIOD_S * 1e3,
        "fits_control_period": with_kv["total"]["median_ms"] < CONTROL_PERIOD_S * 1e3,
    }


def benchmark_inputs(model: FlowVLA, tokenizer) -> Observation:
    """One random observation with the standard instruction."""
    cfg = model.config
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(1, cfg.num_cameras, 3, cfg.image_size, cfg.image_size, generator=gen)
    enc = tokenizer(
        [INSTRUCTION], truncation=True, max_length=cfg.max_instruction_tokens, return_tensors="pt"
    )
    return Observation(images, enc["input_ids"], enc["attention_mask"])


def format_report(result: dict[str, object]) -> str:
    lines = [
        f"horizon {result['horizon']}, {result['num_steps']} Euler steps, "
        f"{result['prefix_tokens']} prefix tokens, {result['threads']} threads, "
        f"{result['repeats']} chunks, {100 * result['refined_fraction']:.0f}% tokens refined",
        f"{'stage':<8}{'KV reuse min':>14}{'med':>9}{'p95':>9}"
        f"{'no reuse min':>15}{'med':>9}{'p95':>9}  (ms)",
    ]
    with_kv, without_kv = result["with_kv_reuse"], result["without_kv_reuse"]
    for stage in ("prefix", "sfm", "rater", "afm", "total"):
        a, b = with_kv[stage], without_kv[stage]
        lines.append(
            f"{stage:<8}{a['min_ms']:>14.2f}{a['median_ms']:>9.2f}{a['p95_ms']:>9.2f}"
            f"{b['min_ms']:>15.2f}{b['median_ms']:>9.2f}{b['p95_ms']:>9.2f}"
        )
    ours = result["shares_with_kv_reuse_percent"]
    naive = result["shares_without_kv_reuse_percent"]
    mixed = result["shares_asyncvla_accounting_percent"]
    lines.append(
        "share of min times (prefix in SFM)  KV reuse  no reuse  AsyncVLA-style*  AsyncVLA Tab. 6"
    )
    for stage in ("sfm", "rater", "afm"):
        lines.append(
            f"  {stage:<32}{ours[stage]:>9.1f}%{naive[stage]:>9.1f}%{mixed[stage]:>16.1f}%"
            f"{PAPER_SHARES[stage]:>16.1f}%"
        )
    lines.append("  * SFM recomputes the VL prefix every step; rater and AFM reuse its KV cache")
    verdict = "fits" if result["fits_control_period"] else "does NOT fit"
    lines.append(
        f"one inference with KV reuse: min {with_kv['total']['min_ms']:.1f} ms, "
        f"median {with_kv['total']['median_ms']:.1f} ms, "
        f"p95 {with_kv['total']['p95_ms']:.1f} ms -> {verdict} one 30 Hz period "
        f"({result['control_period_ms']:.1f} ms)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: random)")
    parser.add_argument("--horizon", type=int, help="chunk length H, 16..50 (default: 16)")
    parser.add_argument("--repeats", type=int, default=50, help="timed chunks (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.horizon is not None and not HORIZON_RANGE[0] <= args.horizon <= HORIZON_RANGE[1]:
        parser.error(f"--horizon must be in {HORIZON_RANGE[0]}..{HORIZON_RANGE[1]}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint is not None:
        loaded = load_checkpoint(args.checkpoint)
        if args.horizon is not None and args.horizon != loaded.config.horizon:
            parser.error(
                f"--horizon {args.horizon} differs from the checkpoint's {loaded.config.horizon}"
            )
        model, tokenizer = loaded.model, loaded.tokenizer
    else:
        config = VLAConfig()
        if args.horizon is not None:
            config = dataclasses.replace(config, horizon=args.horizon)
        model, tokenizer = build_default_model(config)
    model.eval()
    result = run(model, benchmark_inputs(model, tokenizer), repeats=args.repeats)
    print(format_report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
