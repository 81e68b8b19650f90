"""Options of ``python -m vlash_policy.training.finetune``: a YAML file plus ``--key=value``.

Every key is a field of :class:`FinetuneOptions`; values are type-checked against the field's
annotation, and an unknown key is an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlash_policy.embedded import default_checkpoint_dir

STAGES: tuple[str, ...] = ("policy", "rater")
INIT_DEFAULT = "default"
INIT_NONE = "none"
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


@dataclass
class FinetuneOptions:
    """Fine-tuning settings (defaults: ``src/vlash_policy/config/finetune.yaml``).

    Attributes:
        dataset: ``"synthetic"`` (toy reaching episodes) or a LeRobot v3.0 dataset directory.
        synthetic_episodes, synthetic_joints: size of the synthetic dataset.
        model_config: JSON :class:`~vlash_policy.model.config.VLAConfig` of a new model ("" =
            defaults; only with ``init_checkpoint: none``); dimensions, cameras and action space
            are taken from the dataset.
        init_checkpoint: what training starts from: ``default`` (the embedded checkpoint,
            :func:`vlash_policy.embedded.default_checkpoint_dir`), a checkpoint directory, or
            ``none`` for a new model (``model_config``; not for ``stage: rater``). A checkpoint's
            normalisation statistics are kept so the policy sees the inputs it was trained on.
        relative_actions: a new model learns chunks as displacements from their conditioning
            state (``vlash_policy.data.normalization``; absolute action space only). A
            checkpoint keeps the convention it was trained with.
        commanded_states: condition on the command in force before each step instead of the
            measured state (``Episode.with_commanded_states``: what the deployed policy is fed);
            absolute-action datasets only.
        max_offset: Δmax of VLASH Sec. 4.2 (0 disables offset augmentation).
        shared_observation: pack all Δmax+1 offsets behind one observation (VLASH Sec. 4.3)
            instead of one random offset per sample.
        unified: AsyncVLA unified SFM/AFM masks (Algorithm 2); off = plain SFM (all-ones mask).
        sfm_fraction: with ``unified``, the share of offset branches trained as plain SFM
            (``asyncvla_refiner.unified_loss.sample_token_mask`` says why a small model needs it).
        stage: ``policy`` (backbone + expert, rater frozen) or ``rater`` (AsyncVLA Sec. 3.3
            stage 2: only the confidence rater trains).
        steps, batch_size, lr, weight_decay, grad_clip: optimisation (AdamW, AsyncVLA App. A).
        lr_schedule: ``constant`` or ``cosine`` (decay from ``lr`` to 0 at ``steps``), both
            after a linear warm-up over ``warmup_steps`` steps.
        seed: seeds model init, data order, offsets and flow noise.
        output_dir: checkpoints go to ``output_dir/checkpoints/step_XXXXXX``.
        val_episodes: episodes held out (the last ones) for the validation loss; a dataset
            with no more episodes than that holds out none and trains on all (said at start).
        val_every, val_batches: validation period (steps; 0 = never) and size.
        save_every: checkpoint period in steps (the final step is always saved).
        resume: continue from the newest checkpoint in ``output_dir``.
        num_workers: DataLoader worker processes.
    """

    dataset: str = "synthetic"
    synthetic_episodes: int = 8
    synthetic_joints: int = 2
    model_config: str = ""
    init_checkpoint: str = INIT_DEFAULT
    relative_actions: bool = False
    commanded_states: bool = True
    max_offset: int = 3
    shared_observation: bool = True
    unified: bool = True
    sfm_fraction: float = 0.5
    stage: str = "policy"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    seed: int = 0
    output_dir: str = "outputs/finetune"
    val_episodes: int = 1
    val_every: int = 100
    val_batches: int = 4
    save_every: int = 500
    resume: bool = False
    num_workers: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), f.type))
        minimums = {
            "synthetic_episodes": 2, "synthetic_joints": 2, "max_offset": 0, "steps": 1,
            "batch_size": 1, "seed": 0, "val_episodes": 0, "val_every": 0, "val_batches": 1,
            "save_every": 1, "num_workers": 0, "warmup_steps": 0,
        }  # fmt: skip
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("weight_decay and grad_clip must be >= 0 (grad_clip 0 = off)")
        if not 0.0 <= self.sfm_fraction <= 1.0:
            raise ValueError(f"sfm_fraction must be in [0, 1], got {self.sfm_fraction}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.init_checkpoint.strip() == "":
            raise ValueError(
                f"init_checkpoint is empty; give {INIT_DEFAULT!r} (the embedded checkpoint), a "
                f"checkpoint directory, or {INIT_NONE!r} to train a new model"
            )
        if self.stage == "rater" and self.init_checkpoint == INIT_NONE:
            raise ValueError(
                "stage 'rater' needs init_checkpoint (a trained policy to freeze), "
                f"not {INIT_NONE!r}"
            )
        if self.model_config and self.init_checkpoint != INIT_NONE:
            raise ValueError(
                f"model_config {self.model_config!r} describes a new model, but "
                f"init_checkpoint is {self.init_checkpoint!r}; set init_checkpoint: {INIT_NONE} "
                "to train it from scratch"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def init_checkpoint_dir(self) -> Path | None:
        """The checkpoint directory training starts from; None for a new model."""
        if self.init_checkpoint == INIT_NONE:
            return None
        if self.init_checkpoint == INIT_DEFAULT:
            return default_checkpoint_dir()
        return Path(self.init_checkpoint)

    def learning_rate(self, step: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based) under ``lr_schedule``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    kind = {"str": str, "int": int, "float": float, "bool": bool}[
        annotation if isinstance(annotation, str) else annotation.__name__
    ]
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, str):
        return value
    raise TypeError(f"option {name} must be {kind.__name__}, got {type(value).__name__} {value!r}")


def valid_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(FinetuneOptions)]


def _check_keys(keys: Sequence[str], source: str) -> None:
    unknown = sorted(set(keys) - set(valid_keys()))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} in {source}; valid keys: {', '.join(valid_keys())}"
        )


def load_options(
    config: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> FinetuneOptions:
    """Defaults <- YAML ``config`` <- ``overrides`` (later wins), validated."""
    values: dict[str, Any] = {}
    if config is not None:
        data = yaml.safe_load(Path(config).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{config} must hold a YAML mapping, got {type(data).__name__}")
        _check_keys(list(data), str(config))
        values.update(data)
    if overrides:
        _check_keys(list(overrides), "command-line overrides")
        values.update(overrides)
    return FinetuneOptions(**values)


def parse_overrides(args: Sequence[str]) -> dict[str, str]:
    """``["--steps=10", "--lr", "0.1"]`` -> ``{"steps": "10", "lr": "0.1"}``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ValueError(f"expected --key=value, got {arg!r}")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise ValueError(f"option --{key} needs a value")
            value = args[i + 1]
            i += 1
        out[key.replace("-", "_")] = value
        i += 1
    return out
