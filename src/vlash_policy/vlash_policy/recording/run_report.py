"""Summary numbers and plots of one recorded closed-loop run (``make demo``, benchmarks).

``python -m vlash_policy.recording.run_report BAG OUT_DIR``

Reads the executor's per-tick reports (``vlash/executed_actions``), the policy's chunks
(``vlash/action_chunk``) and the simulator's task events (``sim/task_events``) from an MCAP bag
and reduces them to what a run is judged by: the control rate the executor held, how the VLASH
inference delay Δ (VLASH Sec. 4.1: a chunk conditioned on step t starts at t + Δ) and the
inference latency behind it came out, how many actions arrived after their step had passed, and
how many whack-a-mole targets the arm hit. The run's *loop* spans the executor's first to last
executed action: the ticks and targets before it only measure how long the policy took to load,
and those after it how the nodes shut down (the launcher stops them together, so the executor
often holds for a few ticks after the policy has gone).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlash_core.stamps import stamp_ns
from vlash_policy.recording.bag_io import (
    ACTION_CHUNK_TOPIC,
    EXECUTED_ACTIONS_TOPIC,
    TASK_EVENTS_TOPIC,
    find_topic,
    metadata_topic_counts,
    read_messages,
)

PLOT_FILES = {
    "joints": "joints.png",
    "latency": "inference_latency.png",
    "hits": "hit_timeline.png",
}


@dataclass(frozen=True)
class RunData:
    """The messages of one run: reports by executor step, chunks by id, events by time."""

    reports: list[Any]
    chunks: list[Any]
    events: list[Any]

    def __post_init__(self) -> None:
        if not any(len(r.steps) for r in self.reports):
            raise ValueError(
                f"the run has {len(self.reports)} executor reports and none executed an action: "
                "the closed loop never ran (see the policy node's log)"
            )

    @property
    def loop_reports(self) -> list[Any]:
        """Reports from the tick of the first executed action to that of the last."""
        executed = [i for i, r in enumerate(self.reports) if len(r.steps)]
        return self.reports[executed[0] : executed[-1] + 1]

    @property
    def loop_start_ns(self) -> int:
        return stamp_ns(self.loop_reports[0].header.stamp)

    @property
    def loop_seconds(self) -> float:
        return (stamp_ns(self.loop_reports[-1].header.stamp) - self.loop_start_ns) * 1e-9


def load_run(bag: str | Path) -> RunData:
    """Read the run's reports, chunks and task events from the rosbag2 directory ``bag``."""
    topics = list(metadata_topic_counts(bag))
    names = {
        key: find_topic(topics, key)
        for key in (EXECUTED_ACTIONS_TOPIC, ACTION_CHUNK_TOPIC, TASK_EVENTS_TOPIC)
    }
    by_topic: dict[str, list[Any]] = {name: [] for name in names.values()}
    for record in read_messages(bag, names.values()):
        by_topic[record.topic].append(record.message)
    return RunData(
        reports=sorted(by_topic[names[EXECUTED_ACTIONS_TOPIC]], key=lambda m: m.step),
        chunks=sorted(by_topic[names[ACTION_CHUNK_TOPIC]], key=lambda m: m.chunk_id),
        events=sorted(by_topic[names[TASK_EVENTS_TOPIC]], key=lambda m: stamp_ns(m.header.stamp)),
    )


@dataclass(frozen=True)
class Target:
    """One whack-a-mole target of the loop: shown at ``shown_s``, then hit, missed or pending."""

    target_id: int
    shown_s: float
    outcome: str  # "hit", "missed" or "pending" (still up when the loop ended)
    end_s: float | None


def loop_targets(run: RunData) -> list[Target]:
    """Targets shown during the loop, times in seconds since its start; a target neither hit
    nor missed by the end of the loop is pending."""
    start, end = run.loop_start_ns, run.loop_seconds
    shown: dict[int, float] = {}
    ends: dict[int, tuple[str, float]] = {}
    for event in run.events:
        t = (stamp_ns(event.header.stamp) - start) * 1e-9
        if t > end:
            break  # events are in time order
        if event.kind == "shown" and t >= 0.0:
            shown[event.target_id] = t
        elif event.kind in ("hit", "missed") and event.target_id in shown:
            ends[event.target_id] = (event.kind, t)
    return [Target(tid, t, *ends.get(tid, ("pending", None))) for tid, t in sorted(shown.items())]


def chunk_switch_steps(run: RunData) -> dict[int, int]:
    """chunk id -> executor step of its first executed action (where the arm switched to it)."""
    first: dict[int, int] = {}
    for report in run.reports:
        for step, chunk_id in zip(report.steps, report.chunk_ids, strict=True):
            first.setdefault(int(chunk_id), int(step))
    return first


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def summarize(run: RunData) -> dict[str, Any]:
    """The run's summary numbers (JSON-ready; None where a number is undefined, e.g. no hits)."""
    loop = run.loop_reports
    duration = run.loop_seconds
    targets = loop_targets(run)
    hits = [t for t in targets if t.outcome == "hit"]
    missed = [t for t in targets if t.outcome == "missed"]
    resolved = len(hits) + len(missed)
    delays = [int(c.delay_steps) for c in run.chunks]
    latency_ms = [1e3 * float(c.inference_time.total) for c in run.chunks]
    lateness_ms = [1e3 * float(r.tick_lateness) for r in loop]
    holding = sum(bool(r.holding) for r in loop)
    return {
        "strategy": run.chunks[0].strategy if run.chunks else None,
        # K as the policy sent it: 0 runs each chunk to its end.
        "execution_horizon": int(run.chunks[0].execution_horizon) if run.chunks else None,
        "duration_s": duration,
        "ticks": len(loop),
        # Tick intervals over their time span: the rate the executor actually held.
        "control_rate_hz": (len(loop) - 1) / duration if duration > 0 else None,
        "nominal_control_rate_hz": 1.0 / float(loop[0].control_period),
        "targets_shown": len(targets),
        "targets_hit": len(hits),
        "targets_missed": len(missed),
        "targets_pending": len(targets) - resolved,
        "hit_rate": len(hits) / resolved if resolved else None,
        "mean_time_to_hit_s": float(np.mean([t.end_s - t.shown_s for t in hits])) if hits else None,
        "chunks": len(run.chunks),
        "chunks_executed": len(chunk_switch_steps(run)),
        "delay_steps_median": _percentile(delays, 50),
        "delay_steps_max": max(delays) if delays else None,
        "inference_latency_median_ms": _percentile(latency_ms, 50),
        "inference_latency_p95_ms": _percentile(latency_ms, 95),
        # Cumulative in every report: the loop's last one counts all drops up to its end.
        "dropped_actions": int(loop[-1].dropped_actions),
        "tick_lateness_p50_ms": _percentile(lateness_ms, 50),
        "tick_lateness_p99_ms": _percentile(lateness_ms, 99),
        "tick_lateness_max_ms": max(lateness_ms),
        "holding_ticks": holding,
    }


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _horizon(k: int | None) -> str:
    if k is None:
        return "n/a"
    return f"{k} steps" if k else "the whole chunk"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as an aligned two-column text table."""
    s = summary
    rows = [
        ("strategy", str(s["strategy"])),
        ("execution horizon K", _horizon(s["execution_horizon"])),
        ("loop duration", f"{s['duration_s']:.1f} s ({s['ticks']} ticks)"),
        (
            "control rate",
            f"{_num(s['control_rate_hz'], '.2f')} Hz (nominal {s['nominal_control_rate_hz']:.1f})",
        ),
        (
            "targets shown / hit / missed",
            f"{s['targets_shown']} / {s['targets_hit']} / {s['targets_missed']}"
            + (f" ({s['targets_pending']} still up at the end)" if s["targets_pending"] else ""),
        ),
        (
            "hit rate",
            "n/a" if s["hit_rate"] is None else f"{100 * s['hit_rate']:.1f} % of resolved",
        ),
        (
            "mean time to hit",
            "n/a" if s["mean_time_to_hit_s"] is None else f"{s['mean_time_to_hit_s']:.2f} s",
        ),
        ("chunks (executed)", f"{s['chunks']} ({s['chunks_executed']})"),
        (
            "delay Δ median / max",
            f"{_num(s['delay_steps_median'], 'g')} / {_num(s['delay_steps_max'], 'd')} steps",
        ),
        (
            "inference latency median / p95",
            f"{_num(s['inference_latency_median_ms'], '.1f')} / "
            f"{_num(s['inference_latency_p95_ms'], '.1f')} ms",
        ),
        ("dropped actions", str(s["dropped_actions"])),
        (
            "tick lateness p50 / p99 / max",
            f"{s['tick_lateness_p50_ms']:.2f} / {s['tick_lateness_p99_ms']:.2f} / "
            f"{s['tick_lateness_max_ms']:.2f} ms",
        ),
        (
            "holding ticks",
            f"{s['holding_ticks']} ({100 * s['holding_ticks'] / s['ticks']:.1f} % of ticks)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    lines = [rule, *(f"{label:<{width}}  {value}" for label, value in rows), rule]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_joints(run: RunData, path: Path) -> Path:
    """Commanded joint positions per executor step, a dashed line where each chunk took over."""
    plt = _pyplot()
    names = list(run.reports[0].joint_names)
    loop = run.loop_reports
    steps = np.arange(loop[0].step, loop[-1].step + 1)
    # NaN on ticks without an executed action, so holding shows as a gap, not as a ramp.
    positions = np.full((steps.size, len(names)), np.nan)
    for report in loop:
        commands = np.asarray(report.commanded_positions, dtype=np.float64).reshape(-1, len(names))
        for step, row in zip(report.steps, commands, strict=True):
            positions[int(step) - steps[0]] = row
    switches = sorted(chunk_switch_steps(run).values())
    fig, axes = plt.subplots(len(names), 1, sharex=True, figsize=(14, 1.6 * len(names) + 1))
    axes = np.atleast_1d(axes)
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        for k, step in enumerate(switches):
            ax.axvline(step, color="0.7", lw=0.6, ls="--", label="chunk switch" if k == 0 else None)
        ax.plot(steps, positions[:, j], ".-", ms=2, lw=1, color=f"C{j}", label="commanded")
        ax.set_ylabel(f"{name}\n[rad]", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(loc="upper right", fontsize=8, ncol=2)
    axes[0].set_title(
        f"Commanded joint positions ({len(switches)} chunks executed; dashed: first executed "
        "action of each chunk; gaps: executor holding)"
    )
    axes[-1].set_xlabel("executor control step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_latency(run: RunData, path: Path) -> Path:
    """Histogram of per-chunk inference latency with its median and p95."""
    plt = _pyplot()
    latency_ms = np.array([1e3 * float(c.inference_time.total) for c in run.chunks])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if latency_ms.size:
        ax.hist(latency_ms, bins=min(40, max(5, latency_ms.size // 3)), color="C0", alpha=0.8)
        for q, style in ((50, "-"), (95, "--")):
            value = np.percentile(latency_ms, q)
            ax.axvline(value, color="k", ls=style, label=f"p{q} = {value:.1f} ms")
        ax.legend()
    period_ms = 1e3 * float(run.reports[0].control_period)
    ax.set_title(
        f"Inference latency per chunk ({latency_ms.size} chunks; one control step = "
        f"{period_ms:.1f} ms)"
    )
    ax.set_xlabel("inference time [ms]")
    ax.set_ylabel("chunks")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_hit_timeline(run: RunData, path: Path) -> Path:
    """One bar per target from shown to hit (green) / missed (red) / end of the loop (grey)."""
    plt = _pyplot()
    targets = loop_targets(run)
    end_s = run.loop_seconds
    colors = {"hit": "tab:green", "missed": "tab:red", "pending": "0.6"}
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.22 * len(targets) + 1.5)))
    labelled = set()
    for row, target in enumerate(targets):
        stop = end_s if target.end_s is None else target.end_s
        label = None if target.outcome in labelled else target.outcome
        labelled.add(target.outcome)
        ax.barh(row, stop - target.shown_s, left=target.shown_s, height=0.7,
                color=colors[target.outcome], label=label)  # fmt: skip
        if target.outcome == "hit":
            ax.plot(stop, row, "k|", ms=8)
    ax.set_yticks(range(len(targets)), [str(t.target_id) for t in targets], fontsize=7)
    ax.set_ylim(-1, max(len(targets), 1))
    ax.set_xlim(0, max(end_s, 1e-3))
    hits = sum(t.outcome == "hit" for t in targets)
    ax.set_title(f"Targets: shown -> hit / missed ({hits} of {len(targets)} hit)")
    ax.set_xlabel("time since the first executed action [s]")
    ax.set_ylabel("target id")
    if targets:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(bag: str | Path, out_dir: str | Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Write summary.json, summary.txt and the plots of ``bag`` into ``out_dir``.

    Returns the summary and the plot paths by kind (``joints``, ``latency``, ``hits``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = load_run(bag)
    summary = summarize(run)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.txt").write_text(format_summary(summary) + "\n")
    plotters = {"joints": plot_joints, "latency": plot_latency, "hits": plot_hit_timeline}
    plots = {kind: plotters[kind](run, out / name) for kind, name in PLOT_FILES.items()}
    return summary, plots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bag", type=Path, help="rosbag2 directory of the run")
    parser.add_argument("out_dir", type=Path, help="where summary.* and the plots go")
    args = parser.parse_args(argv)
    summary, plots = write_report(args.bag, args.out_dir)
    print(format_summary(summary))
    for path in plots.values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
