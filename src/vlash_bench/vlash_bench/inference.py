"""``inference`` benchmark: per-stage inference latency beside AsyncVLA Table 6.

A suite wrapper around :mod:`vlash_bench.inference_breakdown` (which does the
measuring). It measures the default architecture twice: with random weights, whose rater masks
most tokens so AFM does real work (the cost of refinement), and with the embedded trained
checkpoint when it exists (what refinement costs the policy that actually runs, whose rater
decides how much AFM does). It writes the suite's JSON and a stacked-bar plot of the stage
shares next to the paper's. One torch thread by default: on a shared 2-core machine two threads
contend with other processes and the timings blow up by orders of magnitude.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from vlash_bench import common
from vlash_bench.inference_breakdown import PAPER_SHARES, benchmark_inputs, run
from vlash_policy.model.checkpoint import build_default_model, load_checkpoint

NAME = "inference"
DEFAULT_REPEATS = 50
QUICK_REPEATS = 1


def measure(checkpoint: Path | None, *, repeats: int, warmup: int) -> dict[str, object]:
    """Run the breakdown on ``checkpoint`` (random default weights when None)."""
    torch.manual_seed(0)
    if checkpoint is None:
        model, tokenizer = build_default_model()
    else:
        loaded = load_checkpoint(checkpoint)
        model, tokenizer = loaded.model, loaded.tokenizer
    model.eval()
    return run(model, benchmark_inputs(model, tokenizer), repeats=repeats, warmup=warmup)


def plot(results: dict[str, dict[str, object]]):
    fig, (ax,) = common.figure(width=8.0)
    columns = {
        "random, KV reuse": results["random"]["shares_with_kv_reuse_percent"],
        "random, AsyncVLA acct.": results["random"]["shares_asyncvla_accounting_percent"],
    }
    if "trained" in results:
        columns["trained, KV reuse"] = results["trained"]["shares_with_kv_reuse_percent"]
    columns["AsyncVLA Table 6"] = PAPER_SHARES
    bottom = [0.0] * len(columns)
    for stage, colour in (("sfm", "tab:blue"), ("rater", "tab:orange"), ("afm", "tab:green")):
        values = [shares[stage] for shares in columns.values()]
        ax.bar(list(columns), values, bottom=bottom, label=stage.upper(), color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("share of inference time (%)")
    medians = ", ".join(
        f"{name} {r['with_kv_reuse']['total']['median_ms']:.1f} ms" for name, r in results.items()
    )
    ax.set_title(f"Inference breakdown, median per chunk with KV reuse: {medians}", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend()
    return fig


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    p = common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, help="trained checkpoint (default: embedded)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or common.embedded_checkpoint()
    repeats = QUICK_REPEATS if args.quick else DEFAULT_REPEATS
    warmup = 0 if args.quick else 3
    start = time.perf_counter()
    results = {"random": measure(None, repeats=repeats, warmup=warmup)}
    if checkpoint is not None:
        results["trained"] = measure(checkpoint, repeats=repeats, warmup=warmup)
    return common.write_result(
        args.out,
        NAME,
        quick=args.quick,
        config={
            "checkpoint": str(checkpoint) if checkpoint else None,
            "repeats": repeats,
            "threads": args.threads,
        },
        results=results,
        paper={"asyncvla_table6_shares_percent": PAPER_SHARES},
        runtime_s=time.perf_counter() - start,
        figure=plot(results),
    )


def _section(name: str, r: dict[str, object]) -> list[str]:
    kv, no_kv = r["with_kv_reuse"], r["without_kv_reuse"]
    lines = [
        f"**{name}** — H = {r['horizon']}, {r['num_steps']} Euler steps, {r['prefix_tokens']} "
        f"prefix tokens, {r['threads']} thread(s), {r['repeats']} chunks, "
        f"{100 * r['refined_fraction']:.0f} % of tokens refined.",
        "",
        "| stage | KV reuse median (ms) | no KV reuse median (ms) |",
        "|---|---:|---:|",
    ]
    for stage in ("prefix", "sfm", "rater", "afm", "total"):
        lines.append(
            f"| {stage} | {kv[stage]['median_ms']:.2f} | {no_kv[stage]['median_ms']:.2f} |"
        )
    mixed = r["shares_asyncvla_accounting_percent"]
    ours = r["shares_with_kv_reuse_percent"]
    lines += [
        "",
        "| share (prefix counted in SFM) | KV reuse | AsyncVLA accounting | AsyncVLA Table 6 |",
        "|---|---:|---:|---:|",
    ]
    for stage in ("sfm", "rater", "afm"):
        lines.append(
            f"| {stage.upper()} | {ours[stage]:.1f} % | {mixed[stage]:.1f} % | "
            f"{PAPER_SHARES[stage]:.1f} % |"
        )
    return [*lines, ""]


def report_section(result: dict[str, object]) -> str:
    """Markdown tables beside AsyncVLA Table 6 and what the numbers mean."""
    results = result["results"]
    lines = _section("Random weights", results["random"])
    if "trained" in results:
        lines += _section("Embedded trained checkpoint", results["trained"])
    rand = results["random"]
    kv = rand["with_kv_reuse"]["total"]["median_ms"]
    fits = "fits" if rand["fits_control_period"] else "does not fit"
    text = (
        f"With random weights one chunk takes {kv:.1f} ms (median, KV reuse), which {fits} one "
        f"30 Hz control period ({rand['control_period_ms']:.1f} ms). Its rater masks "
        f"{100 * rand['refined_fraction']:.0f} % of the tokens, so AFM does nearly a second "
        f"SFM pass: AFM takes {rand['shares_with_kv_reuse_percent']['afm']:.1f} % of the time "
        f"with the prefix encoded once and reused (our implementation), and "
        f"{rand['shares_asyncvla_accounting_percent']['afm']:.1f} % in AsyncVLA's accounting "
        f"(SFM re-encodes the prefix at every Euler step), against the paper's "
        f"{PAPER_SHARES['afm']:.1f} %, where the rater regenerates only part of the chunk."
    )
    if "trained" in results:
        trained = results["trained"]
        text += (
            f" The trained checkpoint's rater marks {100 * trained['refined_fraction']:.0f} % "
            f"of the tokens for refinement, so its AFM share is "
            f"{trained['shares_with_kv_reuse_percent']['afm']:.1f} %: its refinement costs "
            f"only the rater ({trained['shares_with_kv_reuse_percent']['rater']:.1f} %)"
            + (
                ", and with nothing regenerated AFM cannot help it either (see refiner)."
                if trained["refined_fraction"] < 0.05
                else "."
            )
        )
    text += (
        " Our model is a tiny CPU-sized VLA (a few million parameters) against the paper's "
        "multi-billion-parameter backbone on a GPU, so only the shares, not the milliseconds, "
        "are comparable."
    )
    return "\n".join([*lines, text])
