"""``strategies`` benchmark: hit rate and time per target vs inference delay (VLASH Fig. 6).

VLASH Sec. 5.1.1 compares chunk-switching strategies on Kinetix in simulated time with an
injected delay Δ: at Δ = 4, VLASH succeeds 81.7 % of the time against 51.2 % for naive
asynchronous inference. This runs the same comparison on the simulated SO-101 whack-a-mole
(:mod:`vlash_bench.episodes`) for

* the learned VLA (``--checkpoint``; default the embedded trained one): ``sync``,
  ``naive_async``, ``vlash``, ``rtc`` (RTC guided sampling) with refinement off, and
  ``vlash+afm`` (``vlash`` with the AsyncVLA rater + AFM, Sec. 3);
* the scripted IK expert (perfect perception) for ``sync``, ``naive_async``, ``vlash``: the
  reference that isolates the switching strategy from the quality of a learned policy.

``sync`` here really waits: the arm holds its last command for the d steps of inference while
the target's lifetime runs on (the paper's Kinetix sync baseline pauses the world instead, so its
sync curve is our d = 0 point). Execution horizon K is fixed (default 4 >= max d, the paper's
Fig. 6 left protocol) because K = max(d, 1) means an inference per step at d <= 1, too costly for
the VLA here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from vlash_bench import common
from vlash_bench.episodes import (
    Point,
    PolicySpec,
    Task,
    point_config,
    run_points,
    simulated_setup,
    summarise,
)

NAME = "strategies"
PAPER = {
    "source": "VLASH Sec. 5.1.1, Fig. 6 (Kinetix, success rate at inference delay 4)",
    "vlash_success_d4": 0.817,
    "naive_async_success_d4": 0.512,
}
EXPERT_STRATEGIES = ("sync", "naive_async", "vlash")
# label -> (switching strategy, refinement of the VLA)
LEARNED_STRATEGIES = {
    "sync": ("sync", "off"),
    "naive_async": ("naive_async", "off"),
    "vlash": ("vlash", "off"),
    "rtc": ("rtc", "off"),
    "vlash+afm": ("vlash", "confidence"),
}
DEFAULT = {
    "episodes": 200,
    "expert_delays": [0, 1, 2, 3, 4],
    "learned_delays": [0, 2, 4],
    "execution_horizon": 4,
    "workers": 2,
}
QUICK = {
    "episodes": 2,
    "expert_delays": [0, 2],
    "learned_delays": [2],
    "execution_horizon": 4,
    "workers": 1,
}
COLOURS = {
    "sync": "tab:gray",
    "naive_async": "tab:red",
    "vlash": "tab:blue",
    "rtc": "tab:orange",
    "vlash+afm": "tab:green",
}


def run(
    *,
    checkpoint: Path,
    episodes: int,
    expert_delays: Sequence[int],
    learned_delays: Sequence[int],
    execution_horizon: int,
    workers: int,
    task: Task,
) -> dict[str, list[dict[str, object]]]:
    """Rows of (policy, strategy, d, K, summary) for the expert and the learned policy."""
    labelled: list[tuple[str, str, Point]] = []
    for d in expert_delays:
        for strategy in EXPERT_STRATEGIES:
            labelled.append(
                ("expert", strategy, Point(PolicySpec("expert"), strategy, d, execution_horizon))
            )
    for d in learned_delays:
        for label, (strategy, refine) in LEARNED_STRATEGIES.items():
            spec = PolicySpec("learned", str(checkpoint), refine=refine)
            labelled.append(("learned", label, Point(spec, strategy, d, execution_horizon)))
    outcomes = run_points([p for _, _, p in labelled], episodes, task, workers=workers)
    rows: dict[str, list[dict[str, object]]] = {"expert": [], "learned": []}
    for (policy, label, point), results in zip(labelled, outcomes, strict=True):
        rows[policy].append(
            {
                "strategy": label,
                "delay_steps": point.delay_steps,
                "execution_horizon": point.execution_horizon,
                **summarise(results),
            }
        )
    return rows


def plot(results: dict[str, list[dict[str, object]]]):
    fig, axes = common.figure(2, nrows=2, width=5.5, height=3.6)
    for row, policy in enumerate(("expert", "learned")):
        rate_ax, time_ax = axes[2 * row], axes[2 * row + 1]
        rows = results[policy]
        for label in dict.fromkeys(r["strategy"] for r in rows):
            mine = sorted(
                (r for r in rows if r["strategy"] == label), key=lambda r: r["delay_steps"]
            )
            d = [r["delay_steps"] for r in mine]
            rate = [100 * r["hit_rate"] for r in mine]
            err = [
                [100 * (r["hit_rate"] - r["hit_rate_ci95"][0]) for r in mine],
                [100 * (r["hit_rate_ci95"][1] - r["hit_rate"]) for r in mine],
            ]
            colour = COLOURS.get(label)
            rate_ax.errorbar(d, rate, yerr=err, marker="o", capsize=3, label=label, color=colour)
            timed = [(r["delay_steps"], r["time_per_target_s"]) for r in mine]
            time_ax.errorbar(
                [x for x, _ in timed],
                [t["mean"] for _, t in timed],
                yerr=[
                    [t["mean"] - t["low"] for _, t in timed],
                    [t["high"] - t["mean"] for _, t in timed],
                ],
                marker="o",
                capsize=3,
                label=label,
                color=colour,
            )
        if 4 in {r["delay_steps"] for r in rows}:
            rate_ax.plot([4], [100 * PAPER["vlash_success_d4"]], "b*", ms=12, label="VLASH paper")
            rate_ax.plot(
                [4], [100 * PAPER["naive_async_success_d4"]], "r*", ms=12, label="naive paper"
            )
        rate_ax.set(
            xlabel="inference delay d (steps)",
            ylabel="hit rate (%), Wilson 95 % CI",
            title=f"{policy}: hit rate",
            ylim=(-5, 105),
        )
        time_ax.set(
            xlabel="inference delay d (steps)",
            ylabel="s per target (miss = lifetime), 95 % CI",
            title=f"{policy}: time per target",
        )
        rate_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    setup = simulated_setup(
        NAME,
        __doc__.splitlines()[0],
        argv,
        quick=QUICK,
        default=DEFAULT,
        unit="point",
        workers=True,
    )
    config = setup.config
    start = time.perf_counter()
    results = run(checkpoint=setup.checkpoint, task=setup.task, **config)
    runtime = time.perf_counter() - start
    return common.write_result(
        setup.args.out,
        NAME,
        quick=setup.args.quick,
        config={
            **config,
            **setup.described,
            "learned_strategies": {k: list(v) for k, v in LEARNED_STRATEGIES.items()},
            "point_example": point_config(
                Point(PolicySpec("expert"), "vlash", 0, config["execution_horizon"])
            ),
        },
        results=results,
        paper=PAPER,
        runtime_s=runtime,
        figure=plot(results),
    )


def _cell(row: dict[str, object]) -> str:
    low, high = row["hit_rate_ci95"]
    return f"{100 * row['hit_rate']:.1f} ({100 * low:.0f}–{100 * high:.0f})"


def _table(rows: list[dict[str, object]], paper_at_4: dict[str, float]) -> list[str]:
    labels = list(dict.fromkeys(r["strategy"] for r in rows))
    delays = sorted({r["delay_steps"] for r in rows})
    by = {(r["strategy"], r["delay_steps"]): r for r in rows}
    lines = [
        "| strategy | " + " | ".join(f"d = {d}" for d in delays) + " | paper, d = 4 |",
        "|---|" + "---:|" * (len(delays) + 1),
    ]
    for label in labels:
        cells = [_cell(by[(label, d)]) if (label, d) in by else "" for d in delays]
        paper = paper_at_4.get(label)
        lines.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | {'' if paper is None else f'{100 * paper:.1f}'} |"
        )
    lines += ["", "| strategy | " + " | ".join(f"d = {d}" for d in delays) + " |"]
    lines.append("|---|" + "---:|" * len(delays))
    for label in labels:
        cells = []
        for d in delays:
            t = by.get((label, d), {}).get("time_to_hit_s")
            cells.append(
                "–"
                if not t or t["mean"] is None
                else f"{t['mean']:.3f} ± {t['high'] - t['mean']:.3f}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def report_section(result: dict[str, object]) -> str:
    r, c = result["results"], result["config"]
    paper_at_4 = {
        "vlash": PAPER["vlash_success_d4"],
        "naive_async": PAPER["naive_async_success_d4"],
    }
    task = c["task"]
    lines = [
        f"{c['episodes']} seeded episodes (one target each) per point, target lifetime "
        f"{task['target_lifetime_s']} s at {task['control_rate_hz']:.0f} Hz, K = "
        f"{c['execution_horizon']}, {c['workers']} worker processes, runtime "
        f"{result['runtime_s'] / 60:.1f} min. Learned policy: {c['checkpoint_description']}.",
        "",
        "**Scripted expert (perfect perception)** — hit rate % (Wilson 95 % CI):",
        "",
        *_table(r["expert"], paper_at_4),
        "",
        "(second table: mean seconds from target shown to hit ± 95 % CI half-width, hits only)",
        "",
        "**Learned VLA** — hit rate % (Wilson 95 % CI):",
        "",
        *_table(r["learned"], paper_at_4),
        "",
        "(second table: mean seconds from target shown to hit ± 95 % CI half-width, hits only)",
        "",
        _interpret(r, c),
    ]
    return "\n".join(lines)


def _rate(rows: list[dict[str, object]], label: str, d: int) -> float | None:
    for row in rows:
        if row["strategy"] == label and row["delay_steps"] == d:
            return row["hit_rate"]
    return None


def _learned_gaps(rows: list[dict[str, object]], d: int) -> str:
    """VLASH's lead over naive async and sync at delay ``d``, and whether the CIs separate it."""
    by = {row["strategy"]: row for row in rows if row["delay_steps"] == d}
    if not {"vlash", "naive_async", "sync"} <= set(by):
        return ""
    vlash = by["vlash"]
    gaps = []
    for other in ("naive_async", "sync"):
        lead = 100 * (vlash["hit_rate"] - by[other]["hit_rate"])
        apart = vlash["hit_rate_ci95"][0] > by[other]["hit_rate_ci95"][1]
        intervals = "apart" if apart else "overlap"
        gaps.append(f"{lead:+.1f} points over {other} (intervals {intervals})")
    return (
        f"At d = {d} VLASH leads by " + " and ".join(gaps) + ". RTC needs no roll-forward but "
        "freezes its first d actions to the running chunk and guides the rest toward it; "
        "vlash+afm adds the rater and AFM to VLASH (see the refiner section for how well the "
        "rater's confidence tracks the error)."
    )


def _interpret(r: dict[str, list[dict[str, object]]], c: dict[str, object]) -> str:
    d = max(c["expert_delays"])
    sync, naive, vlash = (_rate(r["expert"], s, d) for s in ("sync", "naive_async", "vlash"))
    parts = []
    if None not in (sync, naive, vlash):
        parts.append(
            f"With the expert, whose chunks are as good as chunks can be, the strategies differ "
            f"only in when and from which state they plan. At d = {d} VLASH hits "
            f"{100 * vlash:.1f} % of the targets, naive async {100 * naive:.1f} % and sync "
            f"{100 * sync:.1f} % (paper, Kinetix: VLASH 81.7 %, naive async 51.2 %). Sync loses "
            f"because the arm stands still for d steps before every chunk while the target's "
            f"lifetime runs; naive async keeps moving but each new chunk was planned from the "
            f"state d steps ago, so its first actions pull the arm back toward where it was "
            f"(the prediction-execution misalignment of VLASH Sec. 3); VLASH plans from the "
            f"rolled-forward state and continues smoothly."
        )
    ld = max(c["learned_delays"]) if c["learned_delays"] else None
    if ld is not None:
        rates = {s: _rate(r["learned"], s, ld) for s in LEARNED_STRATEGIES}
        zero = {s: _rate(r["learned"], s, min(c["learned_delays"])) for s in LEARNED_STRATEGIES}
        text = ", ".join(f"{s} {100 * v:.1f} %" for s, v in rates.items() if v is not None)
        parts.append(
            f"The learned VLA at d = {ld}: {text}; at d = {min(c['learned_delays'])} "
            f"sync reaches {100 * (zero['sync'] or 0):.1f} %."
        )
        if "RANDOM" in c["checkpoint_description"]:
            parts.append(
                "These learned-policy figures come from random weights (no trained checkpoint "
                "was available when this ran) and only show that the pipeline runs; they say "
                "nothing about the strategies."
            )
        else:
            parts.append(_learned_gaps(r["learned"], ld))
    parts.append(
        "Our d = 0..4 sweep uses a fixed K = 4 rather than the paper's K = max(d, 1), and our "
        "sync waits in world time where Kinetix's pauses the world, so our sync curve falls "
        "with d while the paper's sync is a delay-free upper bound."
    )
    return " ".join(parts)
