""":class:`LeRobotPolicy`: a LeRobot checkpoint as a :class:`ChunkPolicy`, run in a worker process.

The node stays in the main environment; the LeRobot model (SmolVLA, π0, π0.5, or any policy
with ``predict_action_chunk``) runs in :mod:`.worker` under ``.venv-lerobot`` (LeRobot needs
transformers 4.x, the main environment has 5.x). They talk over the worker's stdin/stdout in
:mod:`.protocol` messages. Nothing of LeRobot is imported here.

The flow-matching noise is drawn here, from a numpy Generator seeded by ``seed``, with
:func:`sampling_noise`, and sent with each request, so chunks are reproducible and can be
recomputed with LeRobot directly (:mod:`.direct`). The state the node passes (rolled forward
for VLASH, Sec. 4.1) replaces ``observation.state``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vlash_core.strategies import get_strategy
from vlash_policy.lerobot_backend.checkpoint import check_camera_keys
from vlash_policy.lerobot_backend.protocol import ProtocolError, read_message, write_message
from vlash_policy.policy_interface import InferenceTiming, PolicyChunk

__all__ = [
    "LeRobotPolicy",
    "LeRobotWorkerError",
    "find_lerobot_python",
    "lerobot_environment",
    "run_lerobot_module",
    "sampling_noise",
]

_LOG = logging.getLogger(__name__)
# <repo>/src/vlash_policy/vlash_policy/lerobot_backend/client.py; resolve() follows colcon's
# --symlink-install links back to the source tree.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
_REPO_ROOT = Path(__file__).resolve().parents[4]
STATE_KEY = "observation.state"
NOISE_KEY = "noise"


class LeRobotWorkerError(RuntimeError):
    """The worker failed to load the checkpoint, died, or failed inside LeRobot."""


def find_lerobot_python(root: str | Path | None = None) -> Path:
    """The Python of the LeRobot environment.

    ``$VLASH_LEROBOT_PYTHON`` if set, else ``<root>/.venv-lerobot/bin/python`` with ``root``
    defaulting to ``$VLASH_ROOT`` or this checkout.

    Raises:
        FileNotFoundError: naming ``make lerobot-env``, which creates it.
    """
    override = os.environ.get("VLASH_LEROBOT_PYTHON")
    if override and root is None:
        python = Path(override)
    else:
        base = Path(root) if root is not None else Path(os.environ.get("VLASH_ROOT", _REPO_ROOT))
        python = base / ".venv-lerobot" / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(
            f"LeRobot environment not found: {python} does not exist; run `make lerobot-env` "
            "(scripts/setup_lerobot.sh) to create .venv-lerobot"
        )
    return python


def sampling_noise(generator: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The flow-matching noise of one chunk: standard normal float32, as LeRobot's
    ``sample_noise`` draws it, here from a numpy Generator so that it is reproducible."""
    return generator.standard_normal(shape, dtype=np.float32)


def lerobot_environment() -> dict[str, str]:
    """Environment variables for a process of the LeRobot environment (the worker, the tiny
    checkpoint builder, :mod:`.direct`): offline, and none of the main environment's paths."""
    env = dict(os.environ)
    # The main environment's Python paths (ROS install/, .venv) must not leak into the
    # worker's interpreter; only our package directory (for the worker module) goes in.
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(_PACKAGE_PARENT)
    # The ROS wheels' shared libraries under .venv/lib could shadow torch's.
    ld_path = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    env["LD_LIBRARY_PATH"] = ":".join(p for p in ld_path if not p.startswith(sys.prefix))
    # Everything the checkpoint needs is on disk; never reach for the Hugging Face hub.
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_lerobot_module(
    python: str | Path, module: str, *args: str, timeout_s: float = 600.0
) -> str:
    """``python -m module args`` in the LeRobot environment; its stdout.

    Raises ``RuntimeError`` with the tail of its stderr when it fails.
    """
    result = subprocess.run(
        [str(python), "-m", module, *args],
        env=lerobot_environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def _drain_stderr(stream: Any, tail: collections.deque[str]) -> None:
    """Keep the worker's stderr pipe from filling (the worker would block on it) and keep its
    last lines for error messages. Holds no reference to the client, so that it can be collected
    (which stops the worker)."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        tail.append(line)
        _LOG.debug("lerobot worker: %s", line)


def _stop_worker(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Close the worker's stdin (it exits on EOF), then kill it if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            stream.close()


class LeRobotPolicy:
    """:class:`~vlash_policy.policy_interface.ChunkPolicy` on a LeRobot checkpoint directory.

    Args:
        checkpoint_dir: a directory saved the LeRobot way (``config.json``,
            ``model.safetensors``, ``policy_preprocessor.json``, ``policy_postprocessor.json``
            and their statistics), e.g. a downloaded ``lerobot/smolvla_base`` fine-tune.
        python: the LeRobot environment's interpreter (default :func:`find_lerobot_python`).
        camera_keys: our camera name -> the checkpoint's image key, e.g.
            ``{"front": "observation.images.top"}``; must cover every image key exactly.
        seed: seed of the noise generator (:func:`sampling_noise`).
        device: torch device the worker runs the model on.
        torch_threads: torch's CPU threads in the worker (default: torch's choice, all cores);
            fewer keeps inference from starving the node's other processes.
        startup_timeout_s: how long loading may take before the worker is killed.
        request_timeout_s: how long one chunk may take before the worker is killed.

    Raises:
        FileNotFoundError: ``python`` or ``checkpoint_dir`` does not exist.
        ValueError: ``camera_keys`` does not match the checkpoint's image features.
        LeRobotWorkerError: the worker could not load the checkpoint.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path,
        *,
        python: str | Path | None = None,
        camera_keys: Mapping[str, str],
        seed: int = 0,
        device: str = "cpu",
        torch_threads: int | None = None,
        startup_timeout_s: float = 600.0,
        request_timeout_s: float = 120.0,
    ) -> None:
        self.checkpoint_dir = Path(checkpoint_dir).resolve()
        if not (self.checkpoint_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.checkpoint_dir} has no config.json: not a LeRobot checkpoint directory"
            )
        self.python = Path(python) if python is not None else find_lerobot_python()
        if not self.python.exists():
            raise FileNotFoundError(
                f"{self.python} does not exist; run `make lerobot-env` to create .venv-lerobot"
            )
        self.camera_keys = dict(camera_keys)
        self.request_timeout_s = request_timeout_s
        self._generator = np.random.default_rng(seed)
        self._next_id = 0
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._process = subprocess.Popen(
            [
                str(self.python),
                "-m",
                "vlash_policy.lerobot_backend.worker",
                "--checkpoint",
                str(self.checkpoint_dir),
                "--device",
                device,
                *(["--threads", str(int(torch_threads))] if torch_threads else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,  # unbuffered: select() on the pipe then tells the truth
            env=lerobot_environment(),
        )
        # Killed when this object is collected or the interpreter exits; the worker also exits
        # by itself when its stdin closes or its parent dies (worker._exit_when_orphaned).
        self._finalizer = weakref.finalize(self, _stop_worker, self._process)
        threading.Thread(
            target=_drain_stderr,
            args=(self._process.stderr, self._stderr_tail),
            name="lerobot-worker-stderr",
            daemon=True,
        ).start()
        try:
            ready, _ = self._receive(startup_timeout_s, "loading the checkpoint")
            if ready.get("type") != "ready":
                raise LeRobotWorkerError(self._describe_failure(ready, "loading the checkpoint"))
            self.info: dict[str, Any] = ready
            check_camera_keys(self.camera_keys, self.info["image_features"])
        except BaseException:
            self.close()
            raise

    # -- properties of the checkpoint ------------------------------------------------------

    @property
    def horizon(self) -> int:
        """H: LeRobot's ``chunk_size``, the length of every predicted chunk."""
        return int(self.info["chunk_size"])

    @property
    def n_action_steps(self) -> int:
        """How many steps LeRobot itself would execute of each chunk (``n_action_steps``)."""
        return int(self.info["n_action_steps"])

    @property
    def action_dim(self) -> int:
        return int(self.info["action_dim"])

    @property
    def state_dim(self) -> int:
        return int(self.info["state_dim"])

    @property
    def policy_type(self) -> str:
        """LeRobot's policy type, e.g. ``smolvla``, ``pi0``, ``pi05``."""
        return str(self.info["policy_type"])

    @property
    def camera_names(self) -> list[str]:
        """Our camera names (the keys of ``camera_keys``)."""
        return list(self.camera_keys)

    @property
    def image_features(self) -> dict[str, tuple[int, ...]]:
        """The checkpoint's image keys -> (C, H, W)."""
        return {key: tuple(shape) for key, shape in self.info["image_features"].items()}

    @property
    def noise_shape(self) -> tuple[int, ...] | None:
        """(1, H, max_action_dim) for flow-matching policies; None if the policy takes none."""
        shape = self.info["noise_shape"]
        return None if shape is None else tuple(shape)

    def reseed(self, seed: int) -> None:
        """Restart the noise generator, e.g. once per episode."""
        self._generator = np.random.default_rng(seed)

    # -- inference -------------------------------------------------------------------------

    def predict_chunk(
        self,
        images: Mapping[str, np.ndarray],
        instruction: str,
        state: np.ndarray,
        *,
        previous_chunk: np.ndarray | None = None,
        strategy: str = "vlash",
        delay_steps: int = 0,
        execution_horizon: int | None = None,
    ) -> PolicyChunk:
        """See :meth:`ChunkPolicy.predict_chunk`; ``previous_chunk``, ``delay_steps`` and
        ``execution_horizon`` only matter to ``rtc``, which this backend rejects."""
        start = time.perf_counter()
        if get_strategy(strategy).uses_guidance:
            raise ValueError(
                f"strategy {strategy!r} needs guided sampling toward the previous chunk, which "
                "LeRobotPolicy does not do; use sync, naive_async or vlash"
            )
        missing = [name for name in self.camera_keys if name not in images]
        if missing:
            raise ValueError(f"images is missing cameras {missing}; expected {self.camera_names}")
        arrays: dict[str, np.ndarray] = {
            key: np.asarray(images[name]) for name, key in self.camera_keys.items()
        }
        arrays[STATE_KEY] = np.asarray(state, dtype=np.float64)
        if arrays[STATE_KEY].shape != (self.state_dim,):
            raise ValueError(
                f"state must have shape ({self.state_dim},), got {arrays[STATE_KEY].shape}"
            )
        if self.noise_shape is not None:
            arrays[NOISE_KEY] = sampling_noise(self._generator, self.noise_shape)
        header, out = self._request(
            {"type": "predict", "task": str(instruction)}, arrays, "predicting a chunk"
        )
        actions = np.asarray(out["action"], dtype=np.float64)
        if actions.shape != (self.horizon, self.action_dim):
            raise LeRobotWorkerError(
                f"worker returned actions of shape {actions.shape}, expected "
                f"({self.horizon}, {self.action_dim})"
            )
        total_s = time.perf_counter() - start
        # LeRobot has no separate prefix/rater/AFM stages: the whole model call is "SFM".
        timing = InferenceTiming(total_s, 0.0, float(header["model_s"]), 0.0, 0.0)
        return PolicyChunk(actions=actions, confidence=None, refined=None, timing=timing)

    def ping(self) -> float:
        """Round trip of an empty message, seconds (the bridge's floor)."""
        start = time.perf_counter()
        self._request({"type": "ping"}, {}, "ping")
        return time.perf_counter() - start

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> LeRobotPolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _describe_failure(self, header: dict[str, Any], what: str) -> str:
        message = f"LeRobot worker failed {what}: {header.get('error')}: {header.get('message')}"
        if header.get("traceback"):
            message += f"\n--- worker traceback ---\n{header['traceback']}"
        return message

    def _died(self, what: str, reason: str) -> LeRobotWorkerError:
        try:
            code = self._process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        tail = "\n".join(list(self._stderr_tail)[-30:])
        self.close()
        return LeRobotWorkerError(
            f"LeRobot worker {reason} while {what} (exit code {code}); last stderr lines:\n{tail}"
        )

    def _receive(self, timeout_s: float | None, what: str) -> tuple[dict, dict]:
        stdout = self._process.stdout
        readable, _, _ = select.select([stdout], [], [], timeout_s)
        if not readable:
            self.close()
            raise TimeoutError(f"LeRobot worker took over {timeout_s} s {what}; it was stopped")
        try:
            return read_message(stdout)
        except EOFError:
            raise self._died(what, "exited") from None
        except ProtocolError as error:
            raise self._died(what, f"sent a malformed message ({error})") from error

    def _request(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray], what: str
    ) -> tuple[dict, dict]:
        if self.closed:
            raise LeRobotWorkerError("LeRobotPolicy is closed")
        request_id = self._next_id
        self._next_id += 1
        try:
            write_message(self._process.stdin, {**header, "id": request_id}, arrays)
        except (BrokenPipeError, OSError):
            raise self._died(what, "stopped reading") from None
        reply, out = self._receive(self.request_timeout_s, what)
        if reply.get("id") != request_id:
            self.close()
            raise LeRobotWorkerError(f"worker answered request {reply.get('id')}, not {request_id}")
        if reply.get("type") == "error":
            if reply.get("request_error"):
                raise ValueError(f"LeRobot worker rejected the request: {reply.get('message')}")
            raise LeRobotWorkerError(self._describe_failure(reply, what))
        return reply, out
