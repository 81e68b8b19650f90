"""JSON-serialisable configuration of the flow-matching VLA (π0-style layout, AsyncVLA Sec. 3.1).

The config fully determines the network's architecture so that a checkpoint directory can be
rebuilt offline from ``config.json`` alone: the backbone is described by the ``transformers``
config dictionaries it was built from (never by a hub name), the action expert and the
confidence rater (AsyncVLA Sec. 3.2) by their sizes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlash_core.action_space import parse_action_space
from vlash_core.so101 import SO101_JOINT_NAMES

# Families whose vision tower + projector + language model we know how to take apart.
# "siglip_lm" is our own pairing of a SigLIP vision encoder, a linear projector and any decoder
# LM that AutoModel can build (Qwen2, Llama, ...); the others are whole pretrained VLMs.
BACKBONE_FAMILIES: tuple[str, ...] = ("siglip_lm", "paligemma", "smolvlm", "idefics3", "qwen2_5_vl")
# How a ``siglip_lm`` tower turns pixels into patch tokens: SigLIP's own linear patch embedding,
# or a strided convolution stack with the same output grid (see ``backbone.ConvPatchStem``).
VISION_STEMS: tuple[str, ...] = ("patch", "conv")


def default_vision_config() -> dict[str, Any]:
    """Tiny SigLIP vision tower: 96 px images, 16 px patches -> 36 tokens per camera."""
    return {
        "model_type": "siglip_vision_model",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 96,
        "patch_size": 16,
        "num_channels": 3,
    }


def default_text_config() -> dict[str, Any]:
    """Tiny Qwen2 decoder (vocab_size is overwritten with the tokenizer's size)."""
    return {
        "model_type": "qwen2",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 64,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
    }


@dataclass
class VLAConfig:
    """Architecture and inference defaults of :class:`vlash_policy.model.FlowVLA`.

    Attributes:
        backbone_family: one of :data:`BACKBONE_FAMILIES`.
        vision_stem: one of :data:`VISION_STEMS` (``siglip_lm`` only).
        vision_config: ``transformers`` vision config dict (``siglip_lm`` only).
        text_config: ``transformers`` decoder-LM config dict (``siglip_lm`` only); its
            ``model_type`` names the family, so e.g. ``"llama"`` works as well as ``"qwen2"``.
        vlm_config: the whole VLM config dict (pretrained families only).
        action_dim, state_dim: D and the robot-state width.
        horizon: action chunk length H (AsyncVLA's L).
        num_cameras: images per observation, in ``camera_names`` order.
        camera_names: keys of the image mapping the policy interface receives.
        image_size: square input resolution (pixels) the vision tower expects.
        image_mean, image_std: per-channel normalisation applied to images in [0, 1].
        expert_width, expert_mlp_width: action-expert hidden and MLP widths.
        max_instruction_tokens: instructions are truncated to this many tokens.
        num_steps: Euler steps of SFM and AFM (AsyncVLA uses 10).
        refine: whether inference runs the rater + AFM after SFM by default.
        refine_threshold: T of AsyncVLA Eq. (3).
        rater_hidden, rater_layers, rater_heads: confidence-rater sizes (Sec. 3.2).
        action_space: ``"absolute"`` or ``"delta"`` (see :mod:`vlash_core.action_space`).
        joint_names: names of the D action / state channels, in order.
    """

    backbone_family: str = "siglip_lm"
    vision_stem: str = "patch"
    vision_config: dict[str, Any] | None = field(default_factory=default_vision_config)
    text_config: dict[str, Any] | None = field(default_factory=default_text_config)
    vlm_config: dict[str, Any] | None = None
    action_dim: int = 6
    state_dim: int = 6
    horizon: int = 16
    num_cameras: int = 1
    camera_names: list[str] = field(default_factory=lambda: ["front"])
    image_size: int = 96
    image_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    expert_width: int = 64
    expert_mlp_width: int = 128
    max_instruction_tokens: int = 16
    num_steps: int = 10
    refine: bool = True
    refine_threshold: float = 0.5
    rater_hidden: int = 64
    rater_layers: int = 2
    rater_heads: int = 4
    action_space: str = "absolute"
    joint_names: list[str] = field(default_factory=lambda: list(SO101_JOINT_NAMES))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field."""
        if self.backbone_family not in BACKBONE_FAMILIES:
            raise ValueError(
                f"backbone_family must be one of {BACKBONE_FAMILIES}, got {self.backbone_family!r}"
            )
        if self.backbone_family == "siglip_lm":
            if not self.vision_config or not self.text_config:
                raise ValueError("backbone_family 'siglip_lm' needs vision_config and text_config")
        elif not self.vlm_config:
            raise ValueError(f"backbone_family {self.backbone_family!r} needs vlm_config")
        if self.vision_stem not in VISION_STEMS:
            raise ValueError(f"vision_stem must be one of {VISION_STEMS}, got {self.vision_stem!r}")
        if self.vision_stem != "patch" and self.backbone_family != "siglip_lm":
            raise ValueError(
                f"vision_stem {self.vision_stem!r} needs backbone_family 'siglip_lm' (a pretrained "
                f"{self.backbone_family!r} keeps its own patch embedding)"
            )
        for name in (
            "action_dim",
            "state_dim",
            "horizon",
            "num_cameras",
            "image_size",
            "expert_width",
            "expert_mlp_width",
            "max_instruction_tokens",
            "num_steps",
            "rater_hidden",
            "rater_layers",
            "rater_heads",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.expert_width % 2:
            raise ValueError(f"expert_width must be even (time embedding), got {self.expert_width}")
        if not 0.0 < self.refine_threshold < 1.0:
            raise ValueError(f"refine_threshold must be in (0, 1), got {self.refine_threshold}")
        if len(self.camera_names) != self.num_cameras:
            raise ValueError(
                f"camera_names has {len(self.camera_names)} entries but num_cameras is "
                f"{self.num_cameras}"
            )
        if len(self.joint_names) != self.action_dim:
            raise ValueError(
                f"joint_names has {len(self.joint_names)} entries but action_dim is "
                f"{self.action_dim}"
            )
        if len(self.image_mean) != 3 or len(self.image_std) != 3:
            raise ValueError("image_mean and image_std must have 3 entries (RGB)")
        parse_action_space(self.action_space)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VLAConfig:
        """Build from a dict, rejecting unknown keys (a config from another version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown VLAConfig fields: {unknown}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> VLAConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err
