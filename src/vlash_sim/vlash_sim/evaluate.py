"""Evaluate a policy on simulated whack-a-mole per (strategy, delay), with 95 % intervals.

``python -m vlash_sim.evaluate --checkpoint DIR --strategies sync vlash --delays 0 2 4
--episodes 10 --steps 600 --seed 0 [--json out.json]``

Each (strategy, d) cell runs ``--episodes`` episodes of the closed loop of
:func:`~vlash_sim.simulated_loop.run_simulated_loop` (the Kinetix-style protocol of
VLASH Sec. 5.1.1: the chunk started on the observation before step ``t`` arrives at ``t + d``)
with episode seeds ``seed, seed + 1, ...``; every cell sees the same targets. Reported:

* hit rate = hits / (hits + misses) pooled over episodes, with the Wilson score interval;
* mean time-to-hit (seconds from a target appearing to its touch) with a seeded percentile
  bootstrap interval, which needs no normality assumption on these skewed times.

``--policy expert`` runs the scripted IK expert (privileged target position) instead, the
reference a learned policy is compared with.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.strategies import get_strategy
from vlash_policy.policy_interface import ChunkPolicy, FlowVLAPolicy
from vlash_sim.sample_statistics import wilson_interval
from vlash_sim.simulated_loop import ExpertChunkPolicy, run_simulated_loop
from vlash_sim.so101_env import DEFAULT_HIT_RADIUS_M, DEFAULT_TARGET_LIFETIME_S, WhackAMoleEnv

BOOTSTRAP_SAMPLES = 2000


def bootstrap_mean_interval(
    values: Sequence[float], *, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean; (nan, nan) for no values."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


@dataclass
class CellResult:
    """Pooled outcome of one (strategy, delay) cell."""

    strategy: str
    delay_steps: int
    episodes: int
    hits: int
    misses: int
    hit_rate: float
    hit_rate_ci: tuple[float, float]
    mean_time_to_hit_s: float
    time_to_hit_ci_s: tuple[float, float]
    mean_inference_ms: float


PolicyFactory = Callable[[WhackAMoleEnv, int], ChunkPolicy]


def evaluate_cell(
    make_policy: PolicyFactory,
    env: WhackAMoleEnv,
    *,
    strategy: str,
    delay_steps: int,
    execution_horizon: int,
    episodes: int,
    steps: int,
    seed: int,
    camera_name: str = "front",
) -> CellResult:
    """Run ``episodes`` seeded episodes of one cell; the policy is rebuilt per episode seed."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    hits = misses = 0
    times: list[float] = []
    inference: list[float] = []
    for episode in range(episodes):
        episode_seed = seed + episode
        result = run_simulated_loop(
            env,
            make_policy(env, episode_seed),
            strategy=strategy,
            delay_steps=delay_steps,
            execution_horizon=execution_horizon,
            num_steps=steps,
            seed=episode_seed,
            instruction=TASK_INSTRUCTION,
            camera_name=camera_name,
        )
        hits, misses = hits + result.hit, misses + result.missed
        times.extend(result.times_to_hit_s)
        inference.extend(t.total_s for t in result.timings)
    return CellResult(
        strategy=strategy,
        delay_steps=delay_steps,
        episodes=episodes,
        hits=hits,
        misses=misses,
        hit_rate=hits / (hits + misses) if hits + misses else 0.0,
        hit_rate_ci=wilson_interval(hits, hits + misses),
        mean_time_to_hit_s=float(np.mean(times)) if times else math.nan,
        time_to_hit_ci_s=bootstrap_mean_interval(times, seed=seed),
        mean_inference_ms=1000.0 * float(np.mean(inference)) if inference else math.nan,
    )


def format_table(cells: Sequence[CellResult]) -> str:
    header = (
        f"{'strategy':<12}{'d':>3}{'hits':>6}{'miss':>6}  {'hit rate [95% CI]':<24}"
        f"{'time-to-hit s [95% CI]':<26}{'infer ms':>9}"
    )
    lines = [header, "-" * len(header)]
    for c in cells:
        rate = f"{c.hit_rate:.3f} [{c.hit_rate_ci[0]:.3f}, {c.hit_rate_ci[1]:.3f}]"
        low, high = c.time_to_hit_ci_s
        ttx = f"{c.mean_time_to_hit_s:.3f} [{low:.3f}, {high:.3f}]"
        lines.append(
            f"{c.strategy:<12}{c.delay_steps:>3}{c.hits:>6}{c.misses:>6}  {rate:<24}{ttx:<26}"
            f"{c.mean_inference_ms:>9.1f}"
        )
    return "\n".join(lines)


def _checkpoint_factory(checkpoint: str | Path, refine: bool | None) -> tuple[PolicyFactory, str]:
    probe = FlowVLAPolicy(checkpoint)
    if len(probe.camera_names) != 1:
        raise ValueError(
            f"the simulated arm has one camera; checkpoint {checkpoint} expects "
            f"{probe.camera_names}"
        )

    def make(env: WhackAMoleEnv, episode_seed: int) -> ChunkPolicy:
        return FlowVLAPolicy(checkpoint, refine=refine, seed=episode_seed)

    return make, probe.camera_names[0]


def evaluate(
    *,
    policy: str,
    checkpoint: str | Path | None,
    strategies: Sequence[str],
    delays: Sequence[int],
    execution_horizon: int,
    episodes: int,
    steps: int,
    seed: int,
    target_lifetime_s: float = DEFAULT_TARGET_LIFETIME_S,
    hit_radius_m: float = DEFAULT_HIT_RADIUS_M,
    refine: bool | None = None,
    horizon: int = 16,
    on_cell: Callable[[CellResult], None] | None = None,
) -> list[CellResult]:
    """Every (strategy, delay) cell for ``policy`` (``checkpoint`` or ``expert``)."""
    for name in strategies:
        get_strategy(name)
    for d in delays:
        if d < 0:
            raise ValueError(f"delays must be >= 0, got {d}")
    if policy == "checkpoint":
        if checkpoint is None:
            raise ValueError("policy 'checkpoint' needs checkpoint=DIR")
        make, camera = _checkpoint_factory(checkpoint, refine)
        render = True
    elif policy == "expert":

        def make(env: WhackAMoleEnv, episode_seed: int) -> ChunkPolicy:
            return ExpertChunkPolicy(env, horizon=horizon)

        camera, render = "front", False
    else:
        raise ValueError(f"policy must be 'checkpoint' or 'expert', got {policy!r}")
    env = WhackAMoleEnv(
        seed=seed, render=render, target_lifetime_s=target_lifetime_s, hit_radius_m=hit_radius_m
    )
    cells = []
    try:
        for name in strategies:
            for d in delays:
                cell = evaluate_cell(
                    make,
                    env,
                    strategy=name,
                    delay_steps=d,
                    execution_horizon=execution_horizon,
                    episodes=episodes,
                    steps=steps,
                    seed=seed,
                    camera_name=camera,
                )
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    finally:
        env.close()
    return cells


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=("checkpoint", "expert"), default="checkpoint")
    parser.add_argument("--checkpoint", default=None, help="FlowVLA checkpoint directory")
    parser.add_argument("--strategies", nargs="+", default=["sync", "vlash"])
    parser.add_argument("--delays", nargs="+", type=int, default=[0])
    parser.add_argument("--execution-horizon", type=int, default=8, help="K")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=600, help="control steps per episode")
    parser.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    parser.add_argument(
        "--target-lifetime", type=float, default=DEFAULT_TARGET_LIFETIME_S, help="seconds"
    )
    parser.add_argument("--hit-radius", type=float, default=DEFAULT_HIT_RADIUS_M, help="metres")
    parser.add_argument(
        "--no-refine", action="store_true", help="skip the rater + AFM refinement (SFM only)"
    )
    parser.add_argument("--json", default=None, help="also write the cells to this JSON file")
    args = parser.parse_args(argv)
    if args.policy == "checkpoint" and args.checkpoint is None:
        parser.error("--checkpoint is required unless --policy expert")

    def show(cell: CellResult) -> None:
        print(
            f"{cell.strategy} d={cell.delay_steps}: hit rate {cell.hit_rate:.3f} "
            f"({cell.hits}/{cell.hits + cell.misses})",
            flush=True,
        )

    cells = evaluate(
        policy=args.policy,
        checkpoint=args.checkpoint,
        strategies=args.strategies,
        delays=args.delays,
        execution_horizon=args.execution_horizon,
        episodes=args.episodes,
        steps=args.steps,
        seed=args.seed,
        target_lifetime_s=args.target_lifetime,
        hit_radius_m=args.hit_radius,
        refine=False if args.no_refine else None,
        on_cell=show,
    )
    print(format_table(cells))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        payload = {"settings": settings, "cells": [asdict(c) for c in cells]}
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
