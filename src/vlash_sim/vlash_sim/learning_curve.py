"""Closed-loop learning curve of a training run: hit rate per saved checkpoint, best one kept.

``python -m vlash_sim.learning_curve RUN_DIR --episodes 6 --seed 5000 --json curve.json
--plot curve.png``

The validation loss of a flow-matching policy says little about whether it touches targets, so
every ``RUN_DIR/checkpoints/step_*`` is played in the simulated loop
(:func:`~vlash_sim.evaluate.evaluate`, one ``(strategy, d)`` cell, SFM only so the
curve measures the policy stage alone) on the same seeded episodes. The best checkpoint has
the highest hit rate (on a tie the most hits, then the later step). Pick seeds that neither the
demonstrations nor the final evaluation use: the curve selects a checkpoint, so its episodes are
a validation set.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from vlash_sim.evaluate import CellResult, evaluate


@dataclass(frozen=True)
class CurvePoint:
    step: int
    checkpoint: str
    cell: CellResult


def run_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, directory)`` of every checkpoint a finetune run saved, in step order."""
    root = Path(run_dir) / "checkpoints"
    found = sorted(
        (int(path.name.removeprefix("step_")), path)
        for path in root.glob("step_*")
        if (path / "config.json").is_file()
    )
    if not found:
        raise FileNotFoundError(f"no checkpoints (step_*/config.json) under {root}")
    return found


def learning_curve(
    run_dir: str | Path,
    *,
    episodes: int,
    steps: int,
    seed: int,
    strategy: str = "sync",
    delay_steps: int = 0,
    execution_horizon: int = 8,
) -> list[CurvePoint]:
    """Evaluate every checkpoint of ``run_dir`` on the same episodes; prints one line each."""
    points = []
    for step, directory in run_checkpoints(run_dir):
        (cell,) = evaluate(
            policy="checkpoint",
            checkpoint=directory,
            strategies=[strategy],
            delays=[delay_steps],
            execution_horizon=execution_horizon,
            episodes=episodes,
            steps=steps,
            seed=seed,
            refine=False,
        )
        points.append(CurvePoint(step, str(directory), cell))
        low, high = cell.hit_rate_ci
        print(
            f"step {step:>6}: hit rate {cell.hit_rate:.3f} [{low:.3f}, {high:.3f}] "
            f"({cell.hits}/{cell.hits + cell.misses})",
            flush=True,
        )
    return points


def best_point(points: Sequence[CurvePoint]) -> CurvePoint:
    if not points:
        raise ValueError("no curve points")
    return max(points, key=lambda p: (p.cell.hit_rate, p.cell.hits, p.step))


def plot_curve(points: Sequence[CurvePoint], path: str | Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p.step for p in points]
    rates = [100.0 * p.cell.hit_rate for p in points]
    low = [100.0 * (p.cell.hit_rate - p.cell.hit_rate_ci[0]) for p in points]
    high = [100.0 * (p.cell.hit_rate_ci[1] - p.cell.hit_rate) for p in points]
    best = best_point(points)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.errorbar(steps, rates, yerr=[low, high], marker="o", capsize=3, label="hit rate, 95 % CI")
    ax.scatter([best.step], [100.0 * best.cell.hit_rate], s=120, facecolors="none",
               edgecolors="tab:red", label=f"kept: step {best.step}")  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("targets hit [%]")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="finetune output_dir (holds checkpoints/step_*)")
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--steps", type=int, default=600, help="control steps per episode")
    parser.add_argument("--seed", type=int, required=True, help="episode i uses seed + i")
    parser.add_argument("--strategy", default="sync")
    parser.add_argument("--delay", type=int, default=0, help="d, inference delay in steps")
    parser.add_argument("--execution-horizon", type=int, default=8, help="K")
    parser.add_argument("--json", required=True, help="write the curve and the best step here")
    parser.add_argument("--plot", default=None, help="PNG of hit rate against training step")
    args = parser.parse_args(argv)
    points = learning_curve(
        args.run_dir,
        episodes=args.episodes,
        steps=args.steps,
        seed=args.seed,
        strategy=args.strategy,
        delay_steps=args.delay,
        execution_horizon=args.execution_horizon,
    )
    best = best_point(points)
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "plot")}
    payload = {
        "settings": settings,
        "points": [{"step": p.step, "checkpoint": p.checkpoint, **asdict(p.cell)} for p in points],
        "best": {"step": best.step, "checkpoint": best.checkpoint},
    }
    Path(args.json).write_text(json.dumps(payload, indent=2))
    if args.plot:
        plot_curve(
            points,
            args.plot,
            title=f"closed-loop learning curve ({args.strategy}, d = {args.delay}, "
            f"{args.episodes} episodes)",
        )
    print(f"best: step {best.step} ({best.checkpoint}); wrote {args.json}")


if __name__ == "__main__":
    main()
