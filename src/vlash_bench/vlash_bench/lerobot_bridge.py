"""``lerobot_bridge`` benchmark: a LeRobot chunk through the worker bridge vs LeRobot in-process.

    python -m vlash_bench lerobot_bridge [--checkpoint DIR] [--calls 50] [--threads T]

Runs in the main environment (needs ``make lerobot-env``). Three timings per call, on the same
observation:

- ``direct_s``: LeRobot called in-process in ``.venv-lerobot``
  (:mod:`vlash_policy.lerobot_backend.direct`: preprocess, ``predict_action_chunk``,
  postprocess), no bridge;
- ``bridge_total_s``: ``LeRobotPolicy.predict_chunk`` as the policy node sees it (noise drawn,
  request written, worker inference, reply read);
- ``bridge_model_s``: the worker's own preprocess + predict + postprocess time of that call, so
  ``overhead_s = bridge_total_s - bridge_model_s`` is what the process boundary costs;

plus ``ping_s``, the round trip of an empty message. Without ``--checkpoint`` a tiny random
SmolVLA (:mod:`vlash_policy.lerobot_backend.tiny_smolvla`) is built in a temporary directory.
Each is reported as median and p90 over ``calls`` calls after ``warmup`` calls.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vlash_bench import common
from vlash_policy.lerobot_backend.checkpoint import checkpoint_image_features
from vlash_policy.lerobot_backend.client import (
    LeRobotPolicy,
    find_lerobot_python,
    run_lerobot_module,
    sampling_noise,
)
from vlash_policy.lerobot_backend.protocol import read_message, write_message
from vlash_sim.sample_statistics import percentile


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median": percentile(values, 50),
        "p90": percentile(values, 90),
        "min": float(min(values)),
        "n": len(values),
    }


def measure_bridge_overhead(
    checkpoint: str | Path | None = None,
    *,
    calls: int = 50,
    warmup: int = 5,
    python: str | Path | None = None,
    instruction: str = "pick the red cube",
    seed: int = 0,
    torch_threads: int | None = None,
) -> dict[str, Any]:
    """Median/p90 seconds of a chunk directly in LeRobot and through the bridge (module doc)."""
    python = Path(python) if python is not None else find_lerobot_python()
    with tempfile.TemporaryDirectory(prefix="lerobot-bridge-") as scratch:
        scratch_dir = Path(scratch)
        if checkpoint is None:
            checkpoint = scratch_dir / "tiny_smolvla"
            run_lerobot_module(python, "vlash_policy.lerobot_backend.tiny_smolvla", str(checkpoint))
        rng = np.random.default_rng(seed)
        features = checkpoint_image_features(checkpoint)
        camera_keys = {key.rsplit(".", 1)[-1]: key for key in features}
        images = {
            name: rng.integers(0, 256, (h, w, c), dtype=np.uint8)
            for name, (c, h, w) in zip(camera_keys, features.values(), strict=True)
        }
        with LeRobotPolicy(
            checkpoint,
            python=python,
            camera_keys=camera_keys,
            seed=seed,
            torch_threads=torch_threads,
        ) as policy:
            state = rng.standard_normal(policy.state_dim)
            for _ in range(warmup):
                policy.predict_chunk(images, instruction, state)
            timings = [
                policy.predict_chunk(images, instruction, state).timing for _ in range(calls)
            ]
            ping_s = [policy.ping() for _ in range(calls)]
            noise = sampling_noise(np.random.default_rng(seed), policy.noise_shape)
            info = dict(policy.info)

        observation = scratch_dir / "observation.msg"
        arrays = {camera_keys[name]: frame for name, frame in images.items()}
        with observation.open("wb") as stream:
            write_message(
                stream,
                {"task": instruction},
                {**arrays, "observation.state": state, "noise": noise},
            )
        out = scratch_dir / "direct.msg"
        run_lerobot_module(
            python,
            "vlash_policy.lerobot_backend.direct",
            *("--checkpoint", str(checkpoint), "--observation", str(observation)),
            *("--out", str(out), "--warmup", str(warmup), "--repeat", str(calls)),
            *(["--threads", str(torch_threads)] if torch_threads else []),
        )
        with out.open("rb") as stream:
            direct_s = read_message(stream)[0]["call_s"]

    total = [t.total_s for t in timings]
    model = [t.sfm_s for t in timings]
    return {
        "checkpoint": str(checkpoint),
        "policy_type": info["policy_type"],
        "chunk_size": info["chunk_size"],
        "calls": calls,
        "warmup": warmup,
        "torch_threads": torch_threads,
        "direct_s": _stats(direct_s),
        "bridge_total_s": _stats(total),
        "bridge_model_s": _stats(model),
        "overhead_s": _stats([t - m for t, m in zip(total, model, strict=True)]),
        "ping_s": _stats(ping_s),
    }


NAME = "lerobot_bridge"
DEFAULT = {"calls": 50, "warmup": 5, "threads": 1}
QUICK = {"calls": 3, "warmup": 1, "threads": 1}
_ROWS = {
    "direct_s": "LeRobot in-process",
    "bridge_total_s": "through the bridge (what the node waits)",
    "bridge_model_s": "the worker's model time",
    "overhead_s": "overhead (bridge - model)",
    "ping_s": "empty round trip",
}


def plot(results: dict[str, Any]):
    fig, (ax,) = common.figure(width=6.0)
    names = list(_ROWS)
    ax.bar(names, [1e3 * results[n]["median"] for n in names])
    ax.set_ylabel("ms per chunk (median)")
    ax.set_title(f"LeRobot {results['policy_type']} through the worker bridge")
    ax.tick_params(axis="x", labelrotation=20)
    return fig


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    p = common.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: a tiny SmolVLA")
    p.add_argument("--calls", type=int, help=f"timed calls (default {DEFAULT['calls']})")
    p.add_argument("--threads", type=int, help="torch threads in the worker and direct (1)")
    args = p.parse_args(argv)
    config = dict(QUICK if args.quick else DEFAULT)
    for key in ("calls", "threads"):
        if getattr(args, key) is not None:
            if getattr(args, key) < 1:
                p.error(f"--{key} must be >= 1, got {getattr(args, key)}")
            config[key] = getattr(args, key)
    start = time.perf_counter()
    results = measure_bridge_overhead(
        args.checkpoint,
        calls=config["calls"],
        warmup=config["warmup"],
        torch_threads=config["threads"],
    )
    return common.write_result(
        args.out,
        NAME,
        quick=args.quick,
        config=config,
        results=results,
        paper={"note": "no paper figure: the cost of running LeRobot in a second environment"},
        runtime_s=time.perf_counter() - start,
        figure=plot(results),
    )


def report_section(result: dict[str, object]) -> str:
    r, c = result["results"], result["config"]
    lines = [
        f"LeRobot {r['policy_type']} (tiny random, H = {r['chunk_size']}), {c['calls']} calls "
        f"after {c['warmup']} warm-up calls, {c['threads']} torch thread(s), on one observation.",
        "",
        "| timing | median ms | p90 ms |",
        "|---|---:|---:|",
    ]
    for name, label in _ROWS.items():
        lines.append(f"| {label} | {1e3 * r[name]['median']:.2f} | {1e3 * r[name]['p90']:.2f} |")
    lines += [
        "",
        "The overhead is what the process boundary costs the policy node per chunk: framing "
        "the observation, two pipe transfers and the reply; the model time is LeRobot's own "
        "preprocess + predict_action_chunk + postprocess in the worker.",
    ]
    return "\n".join(lines)
