"""Check a checkpoint directory before anything loads it: files present, joints as expected.

Fast (no torch, no model built), so the launcher can refuse a bad ``--model`` before it starts a
single node, and the bag converter can name a dataset's cameras after the checkpoint it will
fine-tune. The full check, weights against the architecture, stays where the weights are
loaded (:func:`vlash_policy.model.checkpoint.load_checkpoint`); the file names here are that
module's (a test keeps them equal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vlash_policy.embedded import default_checkpoint_dir

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.json"
TOKENIZER_DIR = "tokenizer"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be deployed as it is; the message says why."""


@dataclass(frozen=True)
class CheckpointSummary:
    """The facts of a checkpoint's ``config.json`` that decide where it can run."""

    path: Path
    joint_names: tuple[str, ...]
    camera_names: tuple[str, ...]


def resolve_checkpoint(model: str | Path | None) -> Path:
    """``model`` as a directory; empty or None is the embedded default checkpoint."""
    if model is None or str(model).strip() == "":
        return default_checkpoint_dir()
    return Path(model).expanduser().resolve()


def preflight_checkpoint(
    model: str | Path | None, *, joint_names: Sequence[str] | None = None
) -> CheckpointSummary:
    """Summary of checkpoint ``model`` (None/"" = embedded default) after checking its files.

    Raises :class:`CheckpointError` naming the missing file, the unreadable field, or, with
    ``joint_names`` (those the executor commands), the joints that differ.
    """
    path = resolve_checkpoint(model)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    missing = [
        name
        for name, present in (
            (CONFIG_FILE, (path / CONFIG_FILE).is_file()),
            (WEIGHTS_FILE, (path / WEIGHTS_FILE).is_file()),
            (NORMALIZATION_FILE, (path / NORMALIZATION_FILE).is_file()),
            (TOKENIZER_DIR + "/", (path / TOKENIZER_DIR).is_dir()),
        )
        if not present
    ]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks {', '.join(missing)}; a checkpoint written by "
            "vlash_policy.training.finetune has config.json, model.safetensors, "
            "normalization.json and tokenizer/"
        )
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path / CONFIG_FILE} is not readable JSON: {error}") from None
    names = {}
    for field in ("joint_names", "camera_names"):
        value = config.get(field) if isinstance(config, dict) else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CheckpointError(f"{path / CONFIG_FILE} has no list of strings {field!r}")
        names[field] = tuple(value)
    if joint_names is not None and tuple(joint_names) != names["joint_names"]:
        raise CheckpointError(
            f"checkpoint {path} is for joints {list(names['joint_names'])} but the executor "
            f"commands {list(joint_names)}; use a checkpoint trained on this arm, or set the "
            "executor's joint_names"
        )
    return CheckpointSummary(path, names["joint_names"], names["camera_names"])
