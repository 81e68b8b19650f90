"""Record scripted-expert demonstrations of whack-a-mole as a LeRobot v3.0 dataset.

``python -m vlash_sim.demonstrations --episodes N --steps S --out DIR --seed 0``

Each episode is the IK expert (:class:`~vlash_sim.simulated_loop.ExpertChunkPolicy`)
run in the simulated closed loop with the ``sync`` strategy and no delay, so the recording is
exactly what a deployed chunk policy would have seen and commanded: ``states[t]`` is the measured
joint position before step ``t``, ``images["front"][t]`` the camera frame of that same
observation and ``actions[t]`` the absolute joint target executed at step ``t`` (the step
convention of VLASH Sec. 4.2 that :mod:`vlash_policy.data.episode` documents). These are the
``{(o_t, s_t, a_t)}`` trajectories VLASH's offset augmentation (Sec. 4.2) is built from.

Optional DART-style state noise: the policy plans each chunk from a measured state perturbed by
Gaussian noise, so the arm really is pushed off the expert's path and the recorded actions show
how the expert comes back. Executed commands stay within the executor's speed limit, so the
perturbation is smoothed by the arm rather than appearing as jumps.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vlash_core.action_space import ActionSpace
from vlash_core.so101 import TASK_INSTRUCTION
from vlash_policy.data.episode import Episode
from vlash_policy.data.lerobot_v3 import write_lerobot_dataset
from vlash_policy.policy_interface import PolicyChunk
from vlash_sim.simulated_loop import ExpertChunkPolicy, StepRecord, run_simulated_loop
from vlash_sim.so101_env import DEFAULT_HIT_RADIUS_M, DEFAULT_TARGET_LIFETIME_S, WhackAMoleEnv

CAMERA = "front"
ROBOT_TYPE = "so101_sim"
HORIZON = 16
EXECUTION_HORIZON = 8


class _NoisyStartExpert:
    """The expert planning from ``state + N(0, σ²)`` on the arm joints (DART-style noise).

    The planned chunk starts from the perturbed state, so the executed commands lead the arm
    slightly off and the following chunks, planned from the true measured state, recover.
    """

    def __init__(self, expert: ExpertChunkPolicy, sigma_rad: float, rng: np.random.Generator):
        self._expert = expert
        self._sigma = sigma_rad
        self._rng = rng
        self.horizon = expert.horizon

    def predict_chunk(
        self, images: Mapping[str, np.ndarray], instruction: str, state: np.ndarray, **kwargs
    ) -> PolicyChunk:
        noisy = np.asarray(state, dtype=np.float64).copy()
        noisy[:5] += self._rng.normal(0.0, self._sigma, size=5)
        return self._expert.predict_chunk(images, instruction, noisy, **kwargs)


def record_episode(
    env: WhackAMoleEnv,
    *,
    steps: int,
    seed: int,
    state_noise_rad: float = 0.0,
    horizon: int = HORIZON,
    execution_horizon: int = EXECUTION_HORIZON,
) -> tuple[Episode, int, int]:
    """One expert episode of ``steps`` control steps; returns (episode, hits, misses)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not math.isfinite(state_noise_rad) or state_noise_rad < 0.0:
        raise ValueError(f"state_noise_rad must be finite and >= 0, got {state_noise_rad}")
    if not env.render:
        raise ValueError("env must render (WhackAMoleEnv(render=True)): episodes need images")
    expert = ExpertChunkPolicy(env, horizon=horizon)
    policy = (
        _NoisyStartExpert(expert, state_noise_rad, np.random.default_rng([seed, 1]))
        if state_noise_rad > 0.0
        else expert
    )
    records: list[StepRecord] = []
    result = run_simulated_loop(
        env,
        policy,
        strategy="sync",
        delay_steps=0,
        execution_horizon=execution_horizon,
        num_steps=steps,
        seed=seed,
        instruction=TASK_INSTRUCTION,
        camera_name=CAMERA,
        on_step=records.append,
    )
    episode = Episode(
        images={CAMERA: np.stack([r.image for r in records])},
        states=np.stack([r.state for r in records]),
        actions=np.stack([r.command for r in records]),
        instruction=TASK_INSTRUCTION,
        fps=1.0 / env.control_period_s,
        action_space=ActionSpace.ABSOLUTE,
        joint_names=env.joint_names,
    )
    return episode, result.hit, result.missed


def _record_worker(job: tuple[int, int, float, dict[str, float | int]]) -> tuple[Episode, int, int]:
    """One episode in a worker process, with an env of its own (GL contexts do not fork)."""
    seed, steps, state_noise_rad, env_kwargs = job
    env = WhackAMoleEnv(seed=seed, render=True, **env_kwargs)
    try:
        return record_episode(env, steps=steps, seed=seed, state_noise_rad=state_noise_rad)
    finally:
        env.close()


def record_demonstrations(
    out: str | Path,
    *,
    episodes: int,
    steps: int,
    seed: int = 0,
    state_noise_rad: float = 0.0,
    env_kwargs: Mapping[str, float | int] | None = None,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Record ``episodes`` episodes (episode ``i`` uses seed ``seed + i``) and write them.

    ``workers > 1`` records episodes in that many spawned processes; rendering dominates the
    cost, and the dataset is the same for any number of workers.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if Path(out).exists():
        raise FileExistsError(f"out {out} already exists; refusing to overwrite a dataset")
    jobs = [(seed + i, steps, state_noise_rad, dict(env_kwargs or {})) for i in range(episodes)]
    bar = tqdm(total=episodes, desc="demonstrations", disable=not progress)
    hits = misses = 0
    recorded: list[Episode] = []

    def collect(results: Iterable[tuple[Episode, int, int]]) -> None:
        nonlocal hits, misses
        for episode, hit, missed in results:
            recorded.append(episode)
            hits, misses = hits + hit, misses + missed
            bar.update(1)
            bar.set_postfix(hit=hits, missed=misses)

    try:
        if workers == 1:
            collect(_record_worker(job) for job in jobs)
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                collect(pool.map(_record_worker, jobs))
    finally:
        bar.close()
    return write_lerobot_dataset(recorded, out, robot_type=ROBOT_TYPE)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True, help="control steps per episode")
    parser.add_argument("--out", required=True, help="dataset directory (must not exist)")
    parser.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    parser.add_argument(
        "--state-noise", type=float, default=0.0, help="DART-style planning noise σ (rad)"
    )
    parser.add_argument(
        "--target-lifetime", type=float, default=DEFAULT_TARGET_LIFETIME_S, help="seconds"
    )
    parser.add_argument("--hit-radius", type=float, default=DEFAULT_HIT_RADIUS_M, help="metres")
    parser.add_argument("--workers", type=int, default=1, help="recording processes")
    args = parser.parse_args(argv)
    path = record_demonstrations(
        args.out,
        episodes=args.episodes,
        steps=args.steps,
        seed=args.seed,
        state_noise_rad=args.state_noise,
        env_kwargs={"target_lifetime_s": args.target_lifetime, "hit_radius_m": args.hit_radius},
        workers=args.workers,
    )
    print(f"wrote {args.episodes} episodes x {args.steps} steps to {path}")


if __name__ == "__main__":
    main()
