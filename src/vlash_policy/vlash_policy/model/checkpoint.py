"""Create, save and load :class:`FlowVLA` checkpoints, strictly offline and without pickle.

A checkpoint directory holds

* ``model.safetensors``: every parameter (``safetensors.torch.save_file``);
* ``config.json``: the :class:`VLAConfig`, which rebuilds the architecture with no other input;
* ``tokenizer/``: the instruction tokenizer (``save_pretrained`` files);
* ``normalization.json``: state/action statistics (:mod:`vlash_policy.data.normalization`).

Loading reads only that directory (``local_files_only=True``), never unpickles, and reports a
corrupt or mismatched file with its path and the offending tensor names / shapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from vlash_policy.data.normalization import NORMALIZATION_FILE, NormalizationStats
from vlash_policy.model.backbone import load_pretrained_backbone
from vlash_policy.model.config import VLAConfig
from vlash_policy.model.tokenizer import build_tokenizer
from vlash_policy.model.vla import FlowVLA

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_DIR = "tokenizer"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not match the architecture."""


@dataclass
class LoadedPolicy:
    """Everything inference needs from one checkpoint directory."""

    model: FlowVLA
    tokenizer: PreTrainedTokenizerBase
    normalization: NormalizationStats
    config: VLAConfig


def build_default_model(config: VLAConfig | None = None) -> tuple[FlowVLA, PreTrainedTokenizerBase]:
    """Random ``siglip_lm`` model plus the offline word-level tokenizer sized to its vocabulary."""
    config = config or VLAConfig()
    if config.backbone_family != "siglip_lm":
        raise ValueError(
            f"build_default_model builds the 'siglip_lm' family, got {config.backbone_family!r}; "
            "use from_pretrained_vlm for pretrained VLMs"
        )
    tokenizer = build_tokenizer()
    text_config = dict(config.text_config or {})
    text_config["vocab_size"] = len(tokenizer)
    config = dataclasses.replace(config, text_config=text_config)
    vision_size = (config.vision_config or {}).get("image_size", config.image_size)
    if vision_size != config.image_size:
        raise ValueError(
            f"image_size {config.image_size} must equal vision_config image_size {vision_size}"
        )
    return FlowVLA(config), tokenizer


def from_pretrained_vlm(
    directory: str | Path, family: str, config: VLAConfig | None = None
) -> tuple[FlowVLA, PreTrainedTokenizerBase]:
    """New VLA on a local pretrained VLM (PaliGemma, SmolVLM2/Idefics3, Qwen2.5-VL).

    The VLM's vision tower, projector and language model keep their pretrained weights; the
    action expert, state/action embeddings and rater are freshly initialised. ``config``
    supplies the robot-side fields (action_dim, horizon, ...); the image size is taken from the
    VLM's vision config when it has a fixed one.
    """
    directory = Path(directory)
    backbone, vlm_config = load_pretrained_backbone(directory, family)
    base = config or VLAConfig()
    image_size = vlm_config.get("vision_config", {}).get("image_size") or base.image_size
    config = dataclasses.replace(
        base,
        backbone_family=family,
        vision_config=None,
        text_config=None,
        vlm_config=_json_safe(vlm_config),
        image_size=int(image_size),
    )
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return FlowVLA(config, backbone=backbone), tokenizer


def _json_safe(value: Any) -> Any:
    # transformers config dicts may carry torch dtypes; config.json needs plain JSON values.
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return value


def save_checkpoint(
    model: FlowVLA,
    directory: str | Path,
    *,
    tokenizer: PreTrainedTokenizerBase,
    normalization: NormalizationStats,
) -> Path:
    """Write the four checkpoint parts into ``directory`` (created if needed); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    model.config.save(directory / CONFIG_FILE)
    tokenizer.save_pretrained(directory / TOKENIZER_DIR)
    normalization.save(directory / NORMALIZATION_FILE)
    return directory


def _require(path: Path) -> Path:
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} is missing")
    return path


def check_state_dict(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: Path
) -> None:
    """Raise CheckpointError naming missing/unexpected keys and shape mismatches in ``source``."""
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    for name in sorted(set(expected) & set(found)):
        want, got = tuple(expected[name].shape), tuple(found[name].shape)
        if want != got:
            problems.append(f"tensor {name!r} has shape {got} in the file, model expects {want}")
    if problems:
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(problems))


def load_checkpoint(directory: str | Path, *, device: str | torch.device = "cpu") -> LoadedPolicy:
    """Rebuild a model from ``directory`` alone (offline, safetensors only) in eval mode."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    config_path = _require(directory / CONFIG_FILE)
    try:
        config = VLAConfig.load(config_path)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    weights_path = _require(directory / WEIGHTS_FILE)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {err}") from err
    model = FlowVLA(config)
    check_state_dict(model.state_dict(), state, weights_path)
    model.load_state_dict(state, strict=True)
    model.to(device).eval()

    tokenizer_dir = _require(directory / TOKENIZER_DIR)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    vocab = model.backbone.lm.get_input_embeddings().num_embeddings
    if len(tokenizer) > vocab:
        raise CheckpointError(
            f"{tokenizer_dir} has {len(tokenizer)} tokens but the model embeds only {vocab}"
        )

    norm_path = _require(directory / NORMALIZATION_FILE)
    try:
        normalization = NormalizationStats.load(norm_path)
    except ValueError as err:
        raise CheckpointError(f"{norm_path}: {err}") from err
    for name, stats, dim in (
        ("state", normalization.state, config.state_dim),
        ("action", normalization.action, config.action_dim),
    ):
        if stats.mean.shape[0] != dim:
            raise CheckpointError(
                f"{norm_path}: {name} statistics have {stats.mean.shape[0]} dims, "
                f"config {name}_dim is {dim}"
            )
    return LoadedPolicy(model, tokenizer, normalization, config)
