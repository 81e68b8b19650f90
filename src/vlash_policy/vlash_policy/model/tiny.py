"""Tiny random VLAs for tests and smoke runs: every code path of the real model, milliseconds per
forward. The one factory the tests of every package share, installed so tests outside
vlash_policy (vlash_sim, the integration tests) can use it too."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model.checkpoint import build_default_model, save_checkpoint
from vlash_policy.model.config import VLAConfig

# One layer each (text_layers=2 by default, enough to exercise the KV cache across layers).
TINY_VISION_CONFIG: dict[str, Any] = {
    "model_type": "siglip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 16,
}
TINY_TEXT_CONFIG: dict[str, Any] = {
    "model_type": "qwen2",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
}
# A toy robot small enough to check by hand: 3 joints, 2-D state, two cameras.
TOY_ROBOT: dict[str, Any] = {
    "action_dim": 3,
    "state_dim": 2,
    "horizon": 5,
    "num_cameras": 2,
    "camera_names": ["front", "wrist"],
    "joint_names": ["a", "b", "c"],
}
# The SO-101 robot fields of the default configuration (6 joints, one front camera).
SO101_ROBOT: dict[str, Any] = {
    name: getattr(VLAConfig(), name)
    for name in ("action_dim", "state_dim", "num_cameras", "camera_names", "joint_names")
}


def tiny_config(
    *, text_layers: int = 2, robot: dict[str, Any] | None = None, **overrides: Any
) -> VLAConfig:
    """The tiny architecture on ``robot`` (TOY_ROBOT unless given, e.g. SO101_ROBOT).

    ``overrides`` replace config fields; ``image_size`` also sets the vision tower's size, which
    must match it.
    """
    vision = copy.deepcopy(TINY_VISION_CONFIG)
    if "image_size" in overrides:
        vision["image_size"] = overrides["image_size"]
    text = {**copy.deepcopy(TINY_TEXT_CONFIG), "num_hidden_layers": text_layers}
    base = VLAConfig(
        vision_config=vision,
        text_config=text,
        image_size=vision["image_size"],
        expert_width=16,
        expert_mlp_width=32,
        num_steps=3,
        rater_hidden=16,
        rater_layers=1,
        rater_heads=2,
        **copy.deepcopy(TOY_ROBOT if robot is None else robot),
    )
    return dataclasses.replace(base, **overrides)


def identity_normalization(config: VLAConfig) -> NormalizationStats:
    """Statistics that leave states and actions unchanged (mean 0, std 1, range ±1)."""

    def feature(dim: int) -> FeatureStats:
        return FeatureStats(np.zeros(dim), np.ones(dim), -np.ones(dim), np.ones(dim), 1)

    return NormalizationStats(state=feature(config.state_dim), action=feature(config.action_dim))


def save_random_checkpoint(
    directory: str | Path,
    config: VLAConfig,
    *,
    seed: int = 0,
    normalization: NormalizationStats | None = None,
) -> Path:
    """A checkpoint of ``config`` with seeded random weights (``siglip_lm`` family) in
    ``directory``; normalization defaults to :func:`identity_normalization`."""
    torch.manual_seed(seed)
    model, tokenizer = build_default_model(config)
    stats = normalization or identity_normalization(config)
    return save_checkpoint(model, directory, tokenizer=tokenizer, normalization=stats)
