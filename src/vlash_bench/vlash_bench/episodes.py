"""Seeded whack-a-mole episodes of the simulated closed loop, run in parallel, with statistics.

The protocol follows VLASH Sec. 5.1.1 (Kinetix): the loop runs in simulated time with an injected
inference delay of ``d`` control steps (:func:`~vlash_sim.simulated_loop.\
run_simulated_loop`), so a result depends only on the seed, never on the machine's load.

An *episode* is one target. The target appears after a seeded random gap drawn uniformly from
``[d + 2, d + 2 + K + d)`` steps: after the first chunk is running, at a uniformly random phase
of the chunk cycle (``K + d`` steps for ``sync``, ``K`` for the asynchronous strategies), so the
reaction to it is not favoured by a lucky alignment with an inference. The episode ends when the
target's lifetime runs out; the outcome is hit or missed and, for a hit, the time from the target
appearing to the touch. Every configuration of a benchmark sees the same targets and gaps for
the same seed.
"""

from __future__ import annotations

import argparse
import atexit
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from vlash_core.so101 import SO101_MAX_JOINT_SPEED_RAD_S
from vlash_sim.random_checkpoint import random_checkpoint
from vlash_sim.sample_statistics import mean_interval, wilson_interval
from vlash_sim.simulated_loop import ExpertChunkPolicy, run_simulated_loop
from vlash_sim.so101_env import (
    DEFAULT_CONTROL_RATE_HZ,
    DEFAULT_HIT_RADIUS_M,
    DEFAULT_IMAGE_SIZE,
    WhackAMoleEnv,
)

POLICY_KINDS = ("expert", "learned")
REFINE_MODES = ("off", "confidence", "random")
# AsyncVLA Table 4, "w/o Confidence Rater": every token is regenerated with this probability.
RANDOM_MASK_P = 0.5


@dataclass(frozen=True)
class Task:
    """The whack-a-mole task every episode of a benchmark plays.

    The lifetime fits the demonstrations' 1 rad/s (``expert.DEMONSTRATION_JOINT_SPEED_RAD_S``):
    the expert with VLASH at d = 4 reaches every target in about 0.75 s, so 1.5 s leaves room
    for a learned policy while a sync arm that pauses for each inference, or a naive async one
    that jumps back to stale states, runs out of time (measured: 40 % and 65 % for the expert).
    """

    target_lifetime_s: float = 1.5
    control_rate_hz: float = DEFAULT_CONTROL_RATE_HZ
    hit_radius_m: float = DEFAULT_HIT_RADIUS_M

    def make_env(self, *, render: bool, image_size: int = DEFAULT_IMAGE_SIZE) -> WhackAMoleEnv:
        """The env that plays this task (``render``: camera frames of ``image_size`` px)."""
        return WhackAMoleEnv(
            render=render,
            image_size=image_size,
            control_rate_hz=self.control_rate_hz,
            target_lifetime_s=self.target_lifetime_s,
            hit_radius_m=self.hit_radius_m,
        )


@dataclass(frozen=True)
class PolicySpec:
    """Which chunk policy runs: the scripted expert or a VLA checkpoint (with its refinement).

    ``refine``: ``off`` (SFM only), ``confidence`` (rater + AFM, AsyncVLA Sec. 3) or ``random``
    (AFM on a random p = 0.5 mask). ``horizon`` is the expert's chunk length; a checkpoint has
    its own.
    """

    kind: str
    checkpoint: str | None = None
    refine: str = "off"
    horizon: int = 16

    def __post_init__(self) -> None:
        if self.kind not in POLICY_KINDS:
            raise ValueError(f"kind must be one of {POLICY_KINDS}, got {self.kind!r}")
        if self.refine not in REFINE_MODES:
            raise ValueError(f"refine must be one of {REFINE_MODES}, got {self.refine!r}")
        if self.kind == "learned" and not self.checkpoint:
            raise ValueError("a learned policy needs a checkpoint directory")
        if self.kind == "expert" and self.refine != "off":
            raise ValueError(f"the expert has no refinement, got refine={self.refine!r}")


@dataclass(frozen=True)
class Point:
    """One configuration measured over many episodes."""

    policy: PolicySpec
    strategy: str
    delay_steps: int
    execution_horizon: int
    quantization: int = 1
    max_joint_speed_rad_s: float = SO101_MAX_JOINT_SPEED_RAD_S

    def __post_init__(self) -> None:
        if self.delay_steps < 0:
            raise ValueError(f"delay_steps must be >= 0, got {self.delay_steps}")
        if self.execution_horizon < max(1, self.delay_steps):
            raise ValueError(
                f"execution_horizon must be >= max(1, delay_steps={self.delay_steps}), got "
                f"{self.execution_horizon}"
            )


@dataclass(frozen=True)
class Outcome:
    """What happened to the episode's target."""

    seed: int
    hit: bool
    time_to_hit_s: float | None
    time_on_target_s: float
    """Seconds the target was up: time to hit, or its whole lifetime when missed."""
    inferences: int


def gap_steps(seed: int, delay_steps: int, execution_horizon: int) -> int:
    """Steps before the episode's target appears (see the module docstring)."""
    rng = np.random.default_rng([seed, 0x6A7])
    cycle = execution_horizon + delay_steps
    return delay_steps + 2 + int(rng.integers(cycle))


def run_episode(env: WhackAMoleEnv, policy, point: Point, seed: int, task: Task) -> Outcome:
    """One episode of ``point`` on ``env`` (already built for ``task``) with ``policy``."""
    gap = gap_steps(seed, point.delay_steps, point.execution_horizon)
    # The env reads its gap at reset: this episode's target appears after `gap` steps.
    env.gap_steps = gap
    if hasattr(policy, "reseed"):
        policy.reseed(seed)
    result = run_simulated_loop(
        env,
        policy,
        strategy=point.strategy,
        delay_steps=point.delay_steps,
        execution_horizon=point.execution_horizon,
        num_steps=gap + env.lifetime_steps,
        seed=seed,
        quantization=point.quantization,
        max_joint_speed_rad_s=point.max_joint_speed_rad_s,
    )
    first = {e.kind: e for e in result.events if e.target_id == 0}
    if "shown" not in first:
        raise RuntimeError(f"episode seed {seed}: the target never appeared in {gap} steps")
    lifetime_s = env.lifetime_steps * env.control_period_s
    if "hit" in first:
        seconds = (first["hit"].step - first["shown"].step) * env.control_period_s
        return Outcome(seed, True, seconds, seconds, len(result.timings))
    return Outcome(seed, False, None, lifetime_s, len(result.timings))


class _Workspace:
    """Per-process cache of environments and policies (building them costs seconds)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self._cache: dict[PolicySpec, tuple[WhackAMoleEnv, object]] = {}

    def get(self, spec: PolicySpec) -> tuple[WhackAMoleEnv, object]:
        if spec not in self._cache:
            self._cache[spec] = self._build(spec)
            # MuJoCo registers its EGL teardown when it makes its first GL context, and atexit
            # runs last-registered first: registered after each env, close frees the contexts
            # while EGL still runs.
            atexit.unregister(self.close)
            atexit.register(self.close)
        return self._cache[spec]

    def _build(self, spec: PolicySpec) -> tuple[WhackAMoleEnv, object]:
        task = self.task
        if spec.kind == "expert":
            env = task.make_env(render=False)
            return env, ExpertChunkPolicy(env, horizon=spec.horizon)
        from vlash_policy.policy_interface import FlowVLAPolicy

        policy = FlowVLAPolicy(
            spec.checkpoint,
            refine=spec.refine != "off",
            random_mask_p=RANDOM_MASK_P if spec.refine == "random" else None,
        )
        return task.make_env(render=True, image_size=policy.config.image_size), policy

    def close(self) -> None:
        # Freeing the GL contexts before interpreter exit avoids EGL errors from finalizers.
        for env, _ in self._cache.values():
            env.close()
        self._cache.clear()


_WORKSPACE: _Workspace | None = None


def _init_worker(task: Task) -> None:
    global _WORKSPACE
    import torch

    # One thread per worker process: the workers are the parallelism.
    torch.set_num_threads(1)
    _WORKSPACE = _Workspace(task)


def _run_job(job: tuple[Point, int]) -> Outcome:
    point, seed = job
    env, policy = _WORKSPACE.get(point.policy)
    return run_episode(env, policy, point, seed, _WORKSPACE.task)


def run_points(
    points: list[Point], episodes: int, task: Task, *, workers: int = 2, first_seed: int = 0
) -> list[list[Outcome]]:
    """Outcomes of seeds ``first_seed .. first_seed + episodes - 1`` for every point.

    ``workers > 1`` spreads the episodes over that many processes (spawned, so no torch or GL
    state is forked); the results do not depend on ``workers``.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    jobs = [(point, first_seed + i) for point in points for i in range(episodes)]
    if workers == 1:
        _init_worker(task)
        try:
            outcomes = [_run_job(job) for job in jobs]
        finally:
            _WORKSPACE.close()
    else:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(task,),
        ) as pool:
            outcomes = list(pool.map(_run_job, jobs, chunksize=max(1, episodes // 8)))
    return [outcomes[i * episodes : (i + 1) * episodes] for i in range(len(points))]


def summarise(outcomes: list[Outcome]) -> dict[str, object]:
    """Hit rate with its Wilson 95 % interval, mean times with normal 95 % intervals."""
    hits = sum(o.hit for o in outcomes)
    low, high = wilson_interval(hits, len(outcomes))
    return {
        "episodes": len(outcomes),
        "hits": hits,
        "hit_rate": hits / len(outcomes) if outcomes else 0.0,
        "hit_rate_ci95": [low, high],
        "time_to_hit_s": mean_interval([o.time_to_hit_s for o in outcomes if o.hit]),
        "time_per_target_s": mean_interval([o.time_on_target_s for o in outcomes]),
        "inferences_per_episode": float(np.mean([o.inferences for o in outcomes]))
        if outcomes
        else 0.0,
    }


def point_config(point: Point) -> dict[str, object]:
    """JSON form of a point."""
    return asdict(point)


def resolve_checkpoint(checkpoint: Path | None, *, horizon: int = 16) -> tuple[Path, str]:
    """(directory, description): ``checkpoint``, else the embedded trained one, else random.

    The random fallback (written under the temp dir) only exercises the pipeline; its hit rates
    say nothing about the strategies.
    """
    from vlash_bench.common import embedded_checkpoint

    if checkpoint is not None:
        return Path(checkpoint), f"given checkpoint {checkpoint}"
    embedded = embedded_checkpoint()
    if embedded is not None:
        return embedded, f"embedded trained checkpoint {embedded.name}"
    directory = Path(tempfile.gettempdir()) / f"vlash-bench-random-h{horizon}-{os.getuid()}"
    if not (directory / "config.json").exists():
        random_checkpoint(directory, horizon=horizon)
    return directory, "RANDOM weights (no trained checkpoint found): hit rates are meaningless"


@dataclass
class SimulatedSetup:
    """What a simulated benchmark's ``main`` starts from: its CLI, size, task and checkpoint."""

    args: argparse.Namespace
    config: dict[str, object]
    """The run's size (``QUICK`` or ``DEFAULT``) with the command line's overrides applied."""
    task: Task
    checkpoint: Path
    described: dict[str, object]
    """Checkpoint and task as recorded in the result JSON."""


def simulated_setup(
    name: str,
    description: str,
    argv: Sequence[str] | None,
    *,
    quick: Mapping[str, object],
    default: Mapping[str, object],
    unit: str,
    workers: bool = False,
) -> SimulatedSetup:
    """Parse a simulated benchmark's command line and resolve its checkpoint.

    Every such benchmark takes the suite's common flags plus ``--checkpoint`` and ``--episodes``
    (per ``unit``), and ``--workers`` when it runs points in parallel.
    """
    from vlash_bench import common

    p = common.parser(name, description)
    p.add_argument("--checkpoint", type=Path, help="VLA checkpoint (default: embedded trained)")
    p.add_argument("--episodes", type=int, help=f"episodes per {unit} (default 200)")
    if workers:
        p.add_argument("--workers", type=int, help="processes (default 2)")
    args = p.parse_args(argv)
    config = dict(quick if args.quick else default)
    for key in ("episodes", "workers"):
        if getattr(args, key, None) is not None:
            config[key] = getattr(args, key)
    task = Task()
    checkpoint, checkpoint_description = resolve_checkpoint(args.checkpoint)
    described = {
        "checkpoint": str(checkpoint),
        "checkpoint_description": checkpoint_description,
        "task": task.__dict__,
    }
    return SimulatedSetup(args, config, task, checkpoint, described)
