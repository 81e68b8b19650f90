"""Build a tiny random LeRobot SmolVLA checkpoint fully offline (runs in ``.venv-lerobot``).

    python -m vlash_policy.lerobot_backend.tiny_smolvla OUT_DIR [--state-dim 6 --action-dim 6
        --camera front --image-size 64 --chunk-size 16]

SmolVLA (Shukor et al. 2025, LeRobot ``lerobot.policies.smolvla``) builds its backbone with
``AutoConfig/AutoProcessor.from_pretrained(vlm_model_name)``; with ``load_vlm_weights=False`` it
needs no weights, only the files. So this writes a tiny SmolVLM (2-layer text model, 1-layer
vision encoder, a word-level tokenizer made here with the special tokens SmolVLA looks up, the
image/video processor configs) to ``OUT_DIR/tiny_smolvlm/``, then a SmolVLA policy on it with
random weights and random state/action normalisation statistics, saved the LeRobot way
(``policy.save_pretrained`` plus the pre/post-processor pipelines), so that
:mod:`.worker` loads it like any SmolVLA fine-tune. Nothing is downloaded.

The checkpoint's ``config.json`` names the tiny SmolVLM by absolute path: move both together
and rebuild rather than copy elsewhere.

There is no tiny π0 or π0.5 with lerobot 0.4.4 from PyPI, for three reasons found by trying:
``PI0Pytorch``/``PI05Pytorch.__init__`` import ``transformers.models.siglip.check``, a module
only in Hugging Face's patched transformers (git branch ``fix/lerobot_openpi``, what
``lerobot[pi]`` installs; its Gemma norms take the adaRMS ``cond`` the models pass), and raise
"An incorrect transformer version is used" without it; the processors hard-code the tokenizer
``google/paligemma-3b-pt-224`` (a gated hub download); and the sizes are fixed in code
(``paligemma_variant`` in {gemma_300m, gemma_2b}, vocabulary 257152), so the smallest π0 is
1.56 B parameters. :mod:`.worker` reports the first before building anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

# The special tokens SmolVLMProcessor and SmolVLA (``fake_image_token_id``,
# ``global_image_token_id``) read from the tokenizer; the names are SmolVLM2's own.
SMOLVLM_SPECIAL_TOKENS = {
    "fake_image_token": "<fake_token_around_image>",
    "image_token": "<image>",
    "end_of_utterance_token": "<end_of_utterance>",
    "global_image_token": "<global-img>",
    "video_token": "<video>",
}
BASIC_TOKENS = {"pad": "<|pad|>", "unk": "<|unk|>", "bos": "<|im_start|>", "eos": "<|im_end|>"}
# A small word list so that test instructions tokenise to something other than <unk>.
WORD_TEXT = (
    "pick place put the a an up down left right red green blue yellow cube block box bowl cup "
    "mole whack hit press button push pull open close drawer grasp move to on in into of and "
    "from table arm gripper stack lift"
)

TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "rope_theta": 100000.0,
}
TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "patch_size": 16,
}


def write_tiny_smolvlm(out_dir: Path, image_size: int) -> Path:
    """Write config, tokenizer and processor files of a tiny SmolVLM to ``out_dir``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    specials = [*BASIC_TOKENS.values(), *SMOLVLM_SPECIAL_TOKENS.values()]
    vocab = {token: i for i, token in enumerate([*specials, *WORD_TEXT.split()])}
    word_level = Tokenizer(models.WordLevel(vocab=vocab, unk_token=BASIC_TOKENS["unk"]))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level,
        pad_token=BASIC_TOKENS["pad"],
        unk_token=BASIC_TOKENS["unk"],
        bos_token=BASIC_TOKENS["bos"],
        eos_token=BASIC_TOKENS["eos"],
        additional_special_tokens=list(SMOLVLM_SPECIAL_TOKENS.values()),
        extra_special_tokens=SMOLVLM_SPECIAL_TOKENS,
        model_max_length=512,
    )
    image_token_id = vocab[SMOLVLM_SPECIAL_TOKENS["image_token"]]
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": len(vocab),
            "pad_token_id": vocab[BASIC_TOKENS["pad"]],
            **TINY_TEXT,
        },
        vision_config={"image_size": image_size, **TINY_VISION},
        image_token_id=image_token_id,
        pad_token_id=vocab[BASIC_TOKENS["pad"]],
        scale_factor=2,
    )
    config.save_pretrained(out_dir)
    size = {"longest_edge": image_size}
    # One image of (image_size / patch / scale_factor)^2 tokens: what image_seq_len must match.
    image_seq_len = (image_size // TINY_VISION["patch_size"] // 2) ** 2
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size=size, max_image_size=size),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(size=size, max_image_size=size),
        image_seq_len=image_seq_len,
    )
    processor.save_pretrained(out_dir)
    return out_dir


def build_tiny_smolvla(
    out_dir: str | Path,
    *,
    state_dim: int = 6,
    action_dim: int = 6,
    cameras: tuple[str, ...] = ("front",),
    image_size: int = 64,
    chunk_size: int = 16,
    n_action_steps: int | None = None,
    seed: int = 0,
) -> Path:
    """Build and save the tiny SmolVLA; returns the checkpoint directory."""
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    out_dir = Path(out_dir).resolve()
    vlm_dir = write_tiny_smolvlm(out_dir / "tiny_smolvlm", image_size)
    input_features = {
        f"observation.images.{camera}": PolicyFeature(
            type=FeatureType.VISUAL, shape=(3, image_size, image_size)
        )
        for camera in cameras
    }
    input_features["observation.state"] = PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))
    config = SmolVLAConfig(
        input_features=input_features,
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))},
        chunk_size=chunk_size,
        n_action_steps=chunk_size if n_action_steps is None else n_action_steps,
        vlm_model_name=str(vlm_dir),
        load_vlm_weights=False,
        num_vlm_layers=TINY_TEXT["num_hidden_layers"],
        resize_imgs_with_padding=(image_size, image_size),
        device="cpu",
        push_to_hub=False,
    )
    torch.manual_seed(seed)
    policy = SmolVLAPolicy(config)
    rng = np.random.default_rng(seed)

    def stats(dim: int) -> dict[str, torch.Tensor]:
        # Not 0/1, so that a missing or doubled (un)normalisation shows in the chunk.
        return {
            "mean": torch.tensor(rng.uniform(-1.0, 1.0, dim), dtype=torch.float32),
            "std": torch.tensor(rng.uniform(0.5, 2.0, dim), dtype=torch.float32),
        }

    dataset_stats = {"observation.state": stats(state_dim), "action": stats(action_dim)}
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=dataset_stats)
    policy.save_pretrained(out_dir)
    preprocessor.save_pretrained(out_dir)
    postprocessor.save_pretrained(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--state-dim", type=int, default=6)
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument(
        "--camera", action="append", help="camera name (repeat for several; default: front)"
    )
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--n-action-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_smolvla(
        args.out_dir,
        state_dim=args.state_dim,
        action_dim=args.action_dim,
        cameras=tuple(args.camera or ["front"]),
        image_size=args.image_size,
        chunk_size=args.chunk_size,
        n_action_steps=args.n_action_steps,
        seed=args.seed,
    )
    print(json.dumps({"checkpoint": str(out), "files": sorted(p.name for p in out.iterdir())}))


if __name__ == "__main__":
    main()
