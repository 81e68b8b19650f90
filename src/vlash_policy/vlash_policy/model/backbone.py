"""Vision-language backbone: vision tower + projector + decoder LM (the π0 / AsyncVLA "VLM").

The backbone turns camera images and an instruction into the prefix tokens of AsyncVLA Sec. 3.1
(``o_t`` without the state, plus ``ℓ``). It is assembled from ``transformers`` modules so that the
same code serves

* ``siglip_lm``: a SigLIP vision tower, a linear projector and any decoder LM that
  ``AutoModel.from_config`` can build (Qwen2, Llama, ...); the default is tiny and random;
* whole pretrained VLMs of the PaliGemma, SmolVLM2 / Idefics3 and Qwen2.5-VL families, loaded
  from a local directory with ``from_pretrained(local_files_only=True)``; we keep their vision
  tower, projector and language model and drop the LM head.

Every family is rebuilt from its config dict alone (``build_backbone``), so a checkpoint never
needs the original pretrained directory.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    PretrainedConfig,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from vlash_policy.model.config import BACKBONE_FAMILIES, VISION_STEMS

# The prefix mask is handed to the LM as a ready 4-D boolean tensor, which is the format of the
# SDPA attention integration (eager expects an additive float mask instead).
_ATTN_IMPLEMENTATION = "sdpa"

# model_type of each pretrained family, used to check a directory holds what the caller expects.
_FAMILY_MODEL_TYPE = {
    "paligemma": "paligemma",
    "smolvlm": "smolvlm",
    "idefics3": "idefics3",
    "qwen2_5_vl": "qwen2_5_vl",
}


def _config_from_dict(data: dict[str, Any]) -> PretrainedConfig:
    data = dict(data)
    model_type = data.pop("model_type", None)
    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"config dict has unknown or missing model_type {model_type!r}")
    return CONFIG_MAPPING[model_type].from_dict(data)


class ConvPatchStem(nn.Module):
    """Strided 3x3 convolutions in place of SigLIP's one linear patch projection.

    A ``p`` px patch (``p`` a power of two >= 2) becomes one token after ``log2(p)`` stride-2
    convolutions, so the token grid, and everything downstream of the embedding, is the same as
    with the patch embedding. Small models trained from few frames localise small objects far
    better this way: the stack sees the neighbourhood of every pixel with a shared local filter
    before tokens are formed, where one linear map per 16x16 patch must learn each sub-patch
    position separately (the convolutional-stem observation of Xiao et al. 2021).
    """

    def __init__(self, in_channels: int, out_channels: int, patch_size: int) -> None:
        super().__init__()
        if patch_size < 2 or patch_size & (patch_size - 1):
            raise ValueError(
                f"ConvPatchStem needs a power-of-two patch_size >= 2, got {patch_size}"
            )
        depth = patch_size.bit_length() - 1
        # Channels double per halving of the resolution and reach out_channels before the last.
        widths = [in_channels] + [
            max(out_channels // 2 ** (depth - 2 - i), 8) for i in range(depth - 1)
        ]
        layers: list[nn.Module] = []
        for cin, cout in itertools.pairwise(widths):
            layers += [nn.Conv2d(cin, cout, kernel_size=3, stride=2, padding=1), nn.GELU()]
        layers.append(nn.Conv2d(widths[-1], out_channels, kernel_size=3, stride=2, padding=1))
        self.layers = nn.Sequential(*layers)

    @property
    def weight(self) -> Tensor:
        # SigLIP's embedding casts the pixels to ``patch_embedding.weight.dtype``.
        return self.layers[-1].weight

    def forward(self, pixels: Tensor) -> Tensor:
        return self.layers(pixels)


class Backbone(nn.Module):
    """The three parts of a VLM and the geometry the action expert must match.

    Attributes:
        family: backbone family name.
        vision: vision tower.
        projector: maps vision features to the LM width.
        lm: decoder LM (no head), run on ``inputs_embeds``.
        hidden_size, num_layers, num_heads, num_kv_heads, head_dim: LM geometry.
    """

    def __init__(self, family: str, vision: nn.Module, projector: nn.Module, lm: nn.Module):
        super().__init__()
        if family not in BACKBONE_FAMILIES:
            raise ValueError(f"family must be one of {BACKBONE_FAMILIES}, got {family!r}")
        self.family = family
        self.vision = vision
        self.projector = projector
        self.lm = lm
        cfg = lm.config
        self.hidden_size = int(cfg.hidden_size)
        self.num_layers = int(cfg.num_hidden_layers)
        self.num_heads = int(cfg.num_attention_heads)
        self.num_kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.num_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or self.hidden_size // self.num_heads)
        if family == "qwen2_5_vl":
            vcfg = vision.config
            self._patch = int(vcfg.patch_size)
            self._temporal_patch = int(vcfg.temporal_patch_size)
            self._merge = int(vcfg.spatial_merge_size)

    def embed_images(self, pixels: Tensor) -> Tensor:
        """Normalised images (N, 3, H, W) -> projected image tokens (N, T_img, hidden_size)."""
        if self.family == "qwen2_5_vl":
            return self._embed_qwen2_5_vl(pixels)
        features = self.vision(pixel_values=pixels).last_hidden_state
        return self.projector(features)

    def _embed_qwen2_5_vl(self, pixels: Tensor) -> Tensor:
        # Qwen2.5-VL's vision tower consumes flattened (temporal x spatial) patches ordered by
        # 2x2 merge window, as its image processor produces them; a still image is repeated
        # over the temporal patch. The merger inside the tower is the projector.
        n, c, h, w = pixels.shape
        p, tp, m = self._patch, self._temporal_patch, self._merge
        if h % (p * m) or w % (p * m):
            raise ValueError(
                f"Qwen2.5-VL needs image sides divisible by patch*merge = {p * m}, got {h}x{w}"
            )
        gh, gw = h // p, w // p
        x = pixels[:, None].expand(n, tp, c, h, w)
        x = x.reshape(n, tp, c, gh // m, m, p, gw // m, m, p)
        x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
        x = x.reshape(n * gh * gw, c * tp * p * p)
        grid = torch.tensor([[1, gh, gw]] * n, device=pixels.device)
        merged = self.vision(x, grid_thw=grid).pooler_output
        return merged.reshape(n, (gh // m) * (gw // m), -1)

    def embed_text(self, input_ids: Tensor) -> Tensor:
        """Token ids (B, T) -> LM input embeddings (B, T, hidden_size)."""
        return self.lm.get_input_embeddings()(input_ids)

    def rotary(self, like: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        """RoPE (cos, sin), each (B, L, head_dim), exactly as the LM rotates its keys.

        For Qwen2.5-VL's multimodal RoPE the three position axes are set equal, which makes it
        the ordinary 1-D RoPE (text-style positions for every prefix token).
        """
        return self.lm.rotary_emb(like, position_ids)


def build_backbone(
    family: str,
    *,
    vision_config: dict[str, Any] | None = None,
    text_config: dict[str, Any] | None = None,
    vlm_config: dict[str, Any] | None = None,
    vision_stem: str = "patch",
) -> Backbone:
    """Randomly initialised backbone from config dicts (weights come from a checkpoint)."""
    if vision_stem not in VISION_STEMS:
        raise ValueError(f"vision_stem must be one of {VISION_STEMS}, got {vision_stem!r}")
    if family == "siglip_lm":
        if vision_config is None or text_config is None:
            raise ValueError("family 'siglip_lm' needs vision_config and text_config")
        vcfg = dict(vision_config)
        vcfg.pop("model_type", None)
        vision = SiglipVisionModel(SiglipVisionConfig(**vcfg))
        if vision_stem == "conv":
            embeddings = vision.embeddings
            embeddings.patch_embedding = ConvPatchStem(
                vision.config.num_channels, vision.config.hidden_size, vision.config.patch_size
            )
        tcfg = dict(text_config)
        model_type = tcfg.pop("model_type", None)
        if model_type is None:
            raise ValueError("text_config needs a model_type (e.g. 'qwen2' or 'llama')")
        lm = AutoModel.from_config(
            AutoConfig.for_model(model_type, **tcfg), attn_implementation=_ATTN_IMPLEMENTATION
        )
        projector = nn.Linear(vision.config.hidden_size, lm.config.hidden_size)
        return Backbone(family, vision, projector, lm)
    if family not in _FAMILY_MODEL_TYPE:
        raise ValueError(f"family must be one of {BACKBONE_FAMILIES}, got {family!r}")
    if vision_stem != "patch":
        raise ValueError(f"vision_stem {vision_stem!r} is for family 'siglip_lm' only")
    if vlm_config is None:
        raise ValueError(f"family {family!r} needs vlm_config")
    vlm = AutoModelForImageTextToText.from_config(
        _config_from_dict(vlm_config), attn_implementation=_ATTN_IMPLEMENTATION
    )
    return _split_vlm(family, vlm)


def _split_vlm(family: str, vlm: nn.Module) -> Backbone:
    inner = vlm.model
    if family == "paligemma":
        return Backbone(
            family, inner.vision_tower, inner.multi_modal_projector, inner.language_model
        )
    if family in ("smolvlm", "idefics3"):
        return Backbone(family, inner.vision_model, inner.connector, inner.text_model)
    # Qwen2.5-VL: the patch merger lives inside the vision tower.
    return Backbone(family, inner.visual, nn.Identity(), inner.language_model)


def load_pretrained_backbone(directory: str | Path, family: str) -> tuple[Backbone, dict[str, Any]]:
    """Load a local pretrained VLM of ``family`` and return its parts and its config dict.

    Only ``directory`` is read (``local_files_only=True``); weights come from its safetensors
    files. The returned config dict goes into :class:`VLAConfig.vlm_config`.
    """
    directory = Path(directory)
    if family not in _FAMILY_MODEL_TYPE:
        raise ValueError(
            f"family must be one of {tuple(_FAMILY_MODEL_TYPE)} for a pretrained VLM, "
            f"got {family!r}"
        )
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory / 'config.json'} not found: not a VLM directory")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if config.model_type != _FAMILY_MODEL_TYPE[family]:
        raise ValueError(
            f"{directory / 'config.json'} has model_type {config.model_type!r}, expected "
            f"{_FAMILY_MODEL_TYPE[family]!r} for family {family!r}"
        )
    vlm = AutoModelForImageTextToText.from_pretrained(
        directory,
        local_files_only=True,
        use_safetensors=True,
        attn_implementation=_ATTN_IMPLEMENTATION,
        dtype=torch.float32,
    )
    return _split_vlm(family, vlm), vlm.config.to_dict()
