"""Each supported pretrained VLM family: tiny random instance -> save_pretrained -> our loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
)

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model import VLAConfig, tiny
from vlash_policy.model.checkpoint import from_pretrained_vlm, load_checkpoint, save_checkpoint
from vlash_policy.model.tokenizer import build_tokenizer

VOCAB = 64
TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": VOCAB,
    "max_position_embeddings": 256,
}
IDEFICS_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 64,
    "patch_size": 16,
}


def paligemma():
    config = PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
            "projection_dim": 32,
        },
        text_config={"model_type": "gemma", "head_dim": 8, **TEXT},
        image_token_index=VOCAB - 1,
        vocab_size=VOCAB,
        projection_dim=32,
    )
    return PaliGemmaForConditionalGeneration(config), "model.vision_tower", 32


def smolvlm():
    config = SmolVLMConfig(
        vision_config=IDEFICS_VISION,
        text_config={"model_type": "llama", **TEXT},
        image_token_id=VOCAB - 1,
        scale_factor=2,
    )
    return SmolVLMForConditionalGeneration(config), "model.vision_model", 64


def idefics3():
    config = Idefics3Config(
        vision_config=IDEFICS_VISION,
        text_config={"model_type": "llama", **TEXT},
        image_token_id=VOCAB - 1,
        scale_factor=2,
    )
    return Idefics3ForConditionalGeneration(config), "model.vision_model", 64


def qwen2_5_vl():
    config = Qwen2_5_VLConfig(
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [0],
        },
        text_config={
            **TEXT,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [1, 1, 2],
            },
        },
        image_token_id=VOCAB - 1,
        video_token_id=VOCAB - 2,
        vision_start_token_id=VOCAB - 3,
    )
    return Qwen2_5_VLForConditionalGeneration(config), "model.visual", 56


FAMILIES = {
    "paligemma": paligemma,
    "smolvlm": smolvlm,
    "idefics3": idefics3,
    "qwen2_5_vl": qwen2_5_vl,
}


def robot_config() -> VLAConfig:
    # from_pretrained_vlm keeps only the robot-side fields; 56 px is used by Qwen2.5-VL, whose
    # vision tower has no fixed resolution.
    return tiny.tiny_config(
        horizon=4, num_cameras=1, camera_names=["front"], image_size=56, num_steps=2
    )


def _run(model, tokenizer):
    enc = tokenizer(["pick the red cube", "open"], padding=True, return_tensors="pt")
    size = model.config.image_size
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        prefix = model.encode_prefix(
            torch.rand(2, 1, 3, size, size, generator=gen), enc["input_ids"], enc["attention_mask"]
        )
        return model.sample(
            prefix,
            torch.zeros(2, 2),
            torch.randn(2, 4, 3, generator=gen),
            afm_noise=torch.randn(2, 4, 3, generator=gen),
            threshold=0.9,
        )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_pretrained_family_loads_keeps_weights_and_runs(family, tmp_path):
    torch.manual_seed(0)
    vlm, vision_path, image_size = FAMILIES[family]()
    vlm.save_pretrained(tmp_path / "vlm")
    build_tokenizer().save_pretrained(tmp_path / "vlm")

    model, tokenizer = from_pretrained_vlm(tmp_path / "vlm", family, robot_config())
    model.eval()
    assert model.config.backbone_family == family
    assert model.config.image_size == image_size
    vision = vlm.get_submodule(vision_path)
    for name, tensor in vision.state_dict().items():
        assert torch.equal(model.backbone.vision.state_dict()[name], tensor), name
    torch.testing.assert_close(
        model.backbone.embed_text(torch.arange(5)[None]),
        vlm.get_input_embeddings()(torch.arange(5)[None]),
    )
    assert model.backbone.num_layers == 2 and model.backbone.num_kv_heads == 2

    result = _run(model, tokenizer)
    assert result.actions.shape == (2, 4, 3) and torch.isfinite(result.actions).all()

    # The checkpoint rebuilds the same family from config.json alone (no pretrained dir).
    stats = FeatureStats(np.zeros(3), np.ones(3), -np.ones(3), np.ones(3), 1)
    state_stats = FeatureStats(np.zeros(2), np.ones(2), -np.ones(2), np.ones(2), 1)
    save_checkpoint(
        model,
        tmp_path / "ckpt",
        tokenizer=tokenizer,
        normalization=NormalizationStats(state=state_stats, action=stats),
    )
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(_run(loaded.model, loaded.tokenizer).actions, result.actions)


def test_directory_of_another_family_is_rejected(tmp_path):
    vlm, _, _ = smolvlm()
    vlm.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model_type 'smolvlm', expected 'paligemma'"):
        from_pretrained_vlm(tmp_path, "paligemma")


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="family must be one of"):
        from_pretrained_vlm(tmp_path, "gpt")
