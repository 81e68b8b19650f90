"""The largest temporal offset Δmax a checkpoint was trained with, and the check of Δ against it.

VLASH Sec. 4.2: offset augmentation trains the policy on states up to Δmax steps of the data
(micro-steps) ahead of the observation, so it learns to act from the rolled-forward state
``s_{t+Δ}``. In deployment the offset is the measured inference delay Δ in control steps, each of
which executes q micro-actions (action quantization, Sec. 4.4): Δ·q micro-steps. Beyond Δmax the
model is conditioned on offsets it never saw in training.

The trainer (``vlash_policy.training.finetune``) saves its options, ``max_offset`` among them, as
``finetune.yaml`` in every checkpoint it writes; the embedded default keeps its policy stage's
as ``finetune_policy.yaml``. A checkpoint with neither (built by other tools) has an unknown
Δmax. ROS-free and torch-free, like :mod:`vlash_policy.checkpoint_preflight`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

OPTIONS_FILES: tuple[str, ...] = ("finetune.yaml", "finetune_policy.yaml")
"""Where a checkpoint's training options are looked for, in this order (the first is the
trainer's ``OPTIONS_FILE``; a test keeps them equal)."""


@dataclass(frozen=True)
class TrainedOffset:
    """Δmax of a checkpoint, or None when unknown; ``source`` says where it came from or why not."""

    max_offset: int | None
    source: str


def trained_max_offset(checkpoint: str | Path) -> TrainedOffset:
    """Δmax (``max_offset``) from the training options saved in ``checkpoint``.

    Never raises for a missing or unreadable options file: the Δmax is then unknown and
    ``source`` names the reason, for the node's log.
    """
    directory = Path(checkpoint)
    path = next((directory / n for n in OPTIONS_FILES if (directory / n).is_file()), None)
    if path is None:
        return TrainedOffset(None, f"no {' or '.join(OPTIONS_FILES)} in {directory}")
    try:
        options = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        return TrainedOffset(None, f"{path} is unreadable: {error}")
    value = options.get("max_offset") if isinstance(options, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return TrainedOffset(None, f"{path} has no integer max_offset >= 0 (got {value!r})")
    return TrainedOffset(value, str(path))


def offset_beyond_training(
    delay_steps: int, quantization: int, trained: TrainedOffset
) -> str | None:
    """Why Δ·q exceeds the trained Δmax, naming both numbers; None when it does not (or unknown)."""
    offset = delay_steps * quantization
    if trained.max_offset is None or offset <= trained.max_offset:
        return None
    return (
        f"measured inference delay Δ = {delay_steps} steps x q = {quantization} is {offset} "
        f"micro-steps, beyond the Δmax = {trained.max_offset} the checkpoint was trained with "
        f"({trained.source}): the rolled state is further ahead than any offset it learned"
    )
