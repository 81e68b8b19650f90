"""The tiny VLA configuration the model tests build (random weights, milliseconds per forward)."""

import dataclasses

from vlash_policy.model import VLAConfig


def tiny_config(*, text_layers: int = 2, **overrides) -> VLAConfig:
    """A two-camera, 3-D action VLA with 32-pixel images; ``overrides`` replace config fields."""
    base = VLAConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        text_config={
            "model_type": "qwen2",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": text_layers,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 128,
        },
        action_dim=3,
        state_dim=2,
        horizon=5,
        num_cameras=2,
        camera_names=["front", "wrist"],
        image_size=32,
        expert_width=16,
        expert_mlp_width=32,
        num_steps=3,
        rater_hidden=16,
        rater_layers=1,
        rater_heads=2,
        joint_names=["a", "b", "c"],
    )
    return dataclasses.replace(base, **overrides)
