"""The bridge's overhead: one chunk through :class:`~.client.LeRobotPolicy` vs LeRobot in-process.

    python -m vlash_policy.lerobot_backend.bridge_benchmark [--checkpoint DIR] [--calls 50]

Runs in the main environment. Three timings per call, on the same observation:

- ``direct_s``: LeRobot called in-process in ``.venv-lerobot`` (:mod:`.direct`: preprocess,
  ``predict_action_chunk``, postprocess), no bridge;
- ``bridge_total_s``: ``LeRobotPolicy.predict_chunk`` as the node sees it (noise drawn, request
  written, worker inference, reply read);
- ``bridge_model_s``: the worker's own preprocess + predict + postprocess time of that call, so
  ``overhead_s = bridge_total_s - bridge_model_s`` is what the process boundary costs;

plus ``ping_s``, the round trip of an empty message. Without ``--checkpoint`` a tiny random
SmolVLA (:mod:`.tiny_smolvla`) is built in a temporary directory. Each is reported as median
and p90 over ``calls`` calls after ``warmup`` calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vlash_policy.lerobot_backend.client import (
    LeRobotPolicy,
    checkpoint_image_features,
    find_lerobot_python,
    lerobot_environment,
    sampling_noise,
)
from vlash_policy.lerobot_backend.protocol import read_message, write_message


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "median": float(np.median(array)),
        "p90": float(np.percentile(array, 90)),
        "min": float(array.min()),
        "n": int(array.size),
    }


def _run_lerobot(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", *args], env=lerobot_environment(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed:\n{result.stderr[-3000:]}")


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
            _run_lerobot(python, "vlash_policy.lerobot_backend.tiny_smolvla", str(checkpoint))
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
        _run_lerobot(
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LeRobot bridge overhead (see module doc).")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads in both")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure_bridge_overhead(
        args.checkpoint, calls=args.calls, warmup=args.warmup, torch_threads=args.threads
    )
    threads = args.threads or "default"
    print(
        f"{result['policy_type']} (H={result['chunk_size']}), {args.calls} calls each, "
        f"torch threads {threads}, ms:"
    )
    print(f"{'':16}{'median':>9}{'p90':>9}{'min':>9}")
    for name in ("direct_s", "bridge_total_s", "bridge_model_s", "overhead_s", "ping_s"):
        s = result[name]
        print(f"{name:16}{1e3 * s['median']:9.2f}{1e3 * s['p90']:9.2f}{1e3 * s['min']:9.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
