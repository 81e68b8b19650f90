"""A tiny offline instruction tokenizer for the default (randomly initialised) backbone.

Pretrained VLM backbones come with their own tokenizer; the tiny default LM needs one that can be
built without any download, so a word-level vocabulary is trained with the ``tokenizers`` library
on a small corpus of manipulation instructions and wrapped as a ``PreTrainedTokenizerFast`` (so it
saves and loads with the standard ``save_pretrained`` / ``from_pretrained`` files).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"

DEFAULT_CORPUS: tuple[str, ...] = (
    "pick up the red cube and place it in the box",
    "pick the blue block and put it on the plate",
    "move the green object to the left",
    "move the yellow cup to the right",
    "push the button",
    "open the drawer",
    "close the drawer",
    "grasp the cube",
    "lift the bowl",
    "stack the block on top of the other block",
    "put the sponge into the bin",
    "place the pen next to the paper",
    "rotate the lid",
    "fold the towel",
    "pour the water into the glass",
)


def build_tokenizer(corpus: Iterable[str] = DEFAULT_CORPUS) -> PreTrainedTokenizerFast:
    """Train a lower-cased word-level tokenizer on ``corpus``; ids 0/1 are [PAD]/[UNK]."""
    lines = [line for line in corpus if line.strip()]
    if not lines:
        raise ValueError("corpus must contain at least one non-empty instruction")
    core = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator(
        lines, trainers.WordLevelTrainer(special_tokens=[PAD_TOKEN, UNK_TOKEN], min_frequency=1)
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN, padding_side="right"
    )
