"""Inference worker: one LeRobot policy, served over stdin/stdout (runs in ``.venv-lerobot``).

    PYTHONPATH=<repo>/src/vlash_policy .venv-lerobot/bin/python \\
        -m vlash_policy.lerobot_backend.worker --checkpoint DIR [--device cpu] [--threads N]

Loads the policy the way LeRobot's own async policy server does
(``lerobot/async_inference/policy_server.py``): the class from ``get_policy_class(type)`` with
the type from the checkpoint's ``config.json``, ``from_pretrained(DIR)``, and the pre/post-processor
pipelines saved beside it (``make_pre_post_processors(config, pretrained_path=DIR)``: the
checkpoint's own normalisation statistics and tokenizer). It then sends a ``ready`` message
describing the checkpoint and answers ``predict`` requests, each with the frames (one (H, W, 3)
uint8 array per LeRobot image key), ``observation.state``, the task and the flow-matching noise,
until stdin closes. A bad request gets an ``error`` reply; the worker carries on.

Only the standard library, numpy, torch, lerobot and :mod:`.protocol` are imported: this runs
outside the main environment, with nothing of the suite installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vlash_policy.lerobot_backend.protocol import ProtocolError, read_message, write_message

STATE_KEY = "observation.state"
ACTION_KEY = "action"
NOISE_KEY = "noise"


# lerobot 0.4.x builds π0, π0.5 and π0-FAST on Hugging Face's patched transformers (git branch
# fix/lerobot_openpi, what `lerobot[pi]` installs; adaRMS-conditioned Gemma norms), which is not
# on PyPI. Stock transformers lacks the marker module their constructors import
# (transformers.models.siglip.check) and they raise "An incorrect transformer version is used".
OPENPI_POLICY_TYPES = frozenset({"pi0", "pi05", "pi0_fast"})


def _check_openpi_transformers(policy_type: str) -> None:
    """Say why a π0-family checkpoint cannot load here, before building a multi-GB model."""
    if policy_type not in OPENPI_POLICY_TYPES:
        return
    import importlib.util

    import transformers

    if importlib.util.find_spec("transformers.models.siglip.check") is None:
        raise RuntimeError(
            f"{policy_type} in lerobot 0.4.x needs Hugging Face's patched transformers (git "
            "branch fix/lerobot_openpi, installed by `pip install lerobot[pi]`), which is not "
            f"on PyPI; this environment has stock transformers {transformers.__version__}. "
            "SmolVLA and the other LeRobot policies work with it."
        )


class RequestError(ValueError):
    """A request the worker cannot serve (unknown key, wrong shape); replied, not fatal."""


def _claim_stdout() -> BinaryIO:
    """Keep fd 1 for messages and point everything else that prints (LeRobot and transformers
    ``print`` progress lines) at stderr, so no stray text corrupts the message stream."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return protocol_out


def _exit_when_orphaned(parent_pid: int, period_s: float = 1.0) -> None:
    """Exit at once if the client dies, even in the middle of a long inference (its stdin EOF
    would only be seen after it)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(period_s)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


class LeRobotWorker:
    """A loaded LeRobot policy with its processors, answering one request at a time."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        self.checkpoint = Path(checkpoint).resolve()
        config_path = self.checkpoint / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path} not found: not a LeRobot checkpoint directory")
        self.policy_type = json.loads(config_path.read_text())["type"]
        _check_openpi_transformers(self.policy_type)

        import torch
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        self._torch = torch
        policy_class = get_policy_class(self.policy_type)
        config = PreTrainedConfig.from_pretrained(self.checkpoint)
        config.device = device
        self.device = torch.device(device)
        self.policy = policy_class.from_pretrained(self.checkpoint, config=config)
        self.policy.to(self.device)
        self.policy.eval()
        self.policy.reset()
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            self.policy.config,
            pretrained_path=str(self.checkpoint),
            preprocessor_overrides={"device_processor": {"device": device}},
        )
        self.config = self.policy.config
        self.image_shapes = {
            key: tuple(feature.shape) for key, feature in self.config.image_features.items()
        }
        self.state_dim = int(self.config.robot_state_feature.shape[0])
        self.action_dim = int(self.config.action_feature.shape[0])
        # SmolVLA, π0 and π0.5 sample flow-matching noise at the padded action width and cut
        # the padding after sampling (``predict_action_chunk``: actions[:, :, :action_dim]).
        max_action_dim = getattr(self.config, "max_action_dim", None)
        self.noise_shape = (
            None
            if max_action_dim is None
            else (1, int(self.config.chunk_size), int(max_action_dim))
        )

    def describe(self) -> dict[str, Any]:
        """The ``ready`` message: what a client needs to know about the checkpoint."""
        import lerobot

        return {
            "type": "ready",
            "policy_type": self.policy_type,
            "chunk_size": int(self.config.chunk_size),
            "n_action_steps": int(self.config.n_action_steps),
            "image_features": {key: list(shape) for key, shape in self.image_shapes.items()},
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
            "device": str(self.device),
            "lerobot_version": lerobot.__version__,
            "torch_version": self._torch.__version__,
        }

    def _observation(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        expected = {*self.image_shapes, STATE_KEY, *([NOISE_KEY] if self.noise_shape else [])}
        missing = sorted(expected - set(arrays))
        unknown = sorted(set(arrays) - expected)
        if missing or unknown:
            raise RequestError(
                f"request arrays do not match the checkpoint: missing {missing}, unknown "
                f"{unknown}; expected {sorted(expected)}"
            )
        observation = {}
        for key, (channels, height, width) in self.image_shapes.items():
            frame = arrays[key]
            if frame.dtype != np.uint8 or frame.shape != (height, width, channels):
                raise RequestError(
                    f"{key} must be a ({height}, {width}, {channels}) uint8 frame (the "
                    f"checkpoint's image feature {[channels, height, width]}), got "
                    f"{frame.dtype} {frame.shape}"
                )
            observation[key] = frame
        state = arrays[STATE_KEY]
        if state.shape != (self.state_dim,) or not np.all(np.isfinite(state)):
            raise RequestError(
                f"{STATE_KEY} must be {self.state_dim} finite values, got {state.dtype} "
                f"{state.shape}"
            )
        observation[STATE_KEY] = state.astype(np.float32)
        return observation

    def predict(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """One chunk: LeRobot's ``prepare_observation_for_inference`` -> preprocessor ->
        ``predict_action_chunk(batch, noise=...)`` -> postprocessor (unnormalise)."""
        from lerobot.policies.utils import prepare_observation_for_inference

        torch = self._torch
        task = header.get("task")
        if not isinstance(task, str):
            raise RequestError(f"task must be a string, got {task!r}")
        observation = self._observation(arrays)
        kwargs = {}
        if self.noise_shape is not None:
            noise = arrays[NOISE_KEY]
            if noise.shape != self.noise_shape:
                raise RequestError(f"noise must have shape {self.noise_shape}, got {noise.shape}")
            kwargs["noise"] = torch.from_numpy(noise.astype(np.float32)).to(self.device)
        start = time.perf_counter()
        with torch.inference_mode():
            batch = prepare_observation_for_inference(observation, self.device, task)
            batch = self.preprocessor(batch)
            preprocessed = time.perf_counter()
            chunk = self.policy.predict_action_chunk(batch, **kwargs)
            predicted = time.perf_counter()
            # The unnormaliser broadcasts over (B, H, D); LeRobot's policy server calls it per
            # step, which gives the same numbers (a per-dimension affine map).
            actions = self.postprocessor(chunk)
        done = time.perf_counter()
        actions_np = actions[0].detach().to("cpu", torch.float32).numpy()
        reply = {
            "type": "actions",
            "id": header.get("id"),
            "model_s": done - start,
            "preprocess_s": preprocessed - start,
            "predict_s": predicted - preprocessed,
            "postprocess_s": done - predicted,
        }
        return reply, {ACTION_KEY: actions_np}


def serve(worker: LeRobotWorker, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests until stdin closes."""
    write_message(stdout, worker.describe())
    while True:
        try:
            header, arrays = read_message(stdin)
        except EOFError:
            return
        except ProtocolError as error:
            # The stream is out of step; nothing after this can be trusted.
            write_message(
                stdout, {"type": "error", "error": "ProtocolError", "message": str(error)}
            )
            raise
        kind = header.get("type")
        try:
            if kind == "predict":
                reply, out = worker.predict(header, arrays)
            elif kind == "ping":
                reply, out = {"type": "pong", "id": header.get("id")}, {}
            else:
                raise RequestError(f"unknown request type {kind!r}; expected 'predict' or 'ping'")
        except Exception as error:  # reported to the client, which raises it; the worker stays
            reply, out = (
                {
                    "type": "error",
                    "id": header.get("id"),
                    "error": type(error).__name__,
                    "message": str(error),
                    "request_error": isinstance(error, RequestError),
                    "traceback": traceback.format_exc(),
                },
                {},
            )
        write_message(stdout, reply, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LeRobot inference worker (see module doc).")
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    protocol_out = _claim_stdout()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    _exit_when_orphaned(os.getppid())
    try:
        worker = LeRobotWorker(args.checkpoint, device=args.device)
    except Exception as error:
        write_message(
            protocol_out,
            {
                "type": "error",
                "error": type(error).__name__,
                "message": f"loading {args.checkpoint} failed: {error}",
                "traceback": traceback.format_exc(),
            },
        )
        return 2
    try:
        serve(worker, sys.stdin.buffer, protocol_out)
    except (ProtocolError, BrokenPipeError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
