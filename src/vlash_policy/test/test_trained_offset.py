"""Tests of vlash_policy.trained_offset: Δmax from a checkpoint's saved training options."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vlash_policy.embedded import default_checkpoint_dir
from vlash_policy.trained_offset import (
    OPTIONS_FILES,
    TrainedOffset,
    offset_beyond_training,
    trained_max_offset,
)


def test_the_trainer_saves_its_options_under_the_first_name_looked_for():
    from vlash_policy.training.finetune import OPTIONS_FILE

    assert OPTIONS_FILES[0] == OPTIONS_FILE


def test_reads_max_offset_from_the_trainer_options(tmp_path: Path):
    (tmp_path / "finetune.yaml").write_text(yaml.safe_dump({"max_offset": 5, "stage": "policy"}))
    # The trainer's own file wins over the embedded layout's copy.
    (tmp_path / "finetune_policy.yaml").write_text(yaml.safe_dump({"max_offset": 1}))
    assert trained_max_offset(tmp_path) == TrainedOffset(5, str(tmp_path / "finetune.yaml"))


def test_the_embedded_default_records_its_policy_stage_delta_max():
    checkpoint = default_checkpoint_dir()
    policy_options = yaml.safe_load((checkpoint / "finetune_policy.yaml").read_text())
    trained = trained_max_offset(checkpoint)
    assert trained.max_offset == policy_options["max_offset"]
    assert trained.source.endswith("finetune_policy.yaml")


def test_unknown_without_options_or_with_a_bad_value(tmp_path: Path):
    trained = trained_max_offset(tmp_path)
    assert trained.max_offset is None
    assert trained.source == f"no finetune.yaml or finetune_policy.yaml in {tmp_path}"
    (tmp_path / "finetune.yaml").write_text("max_offset: three\n")
    trained = trained_max_offset(tmp_path)
    assert trained.max_offset is None
    assert "has no integer max_offset >= 0 (got 'three')" in trained.source
    (tmp_path / "finetune.yaml").write_text("max_offset: [\n")
    assert "is unreadable" in trained_max_offset(tmp_path).source


@pytest.mark.parametrize(
    ("delay", "q", "max_offset", "beyond"),
    [(3, 1, 3, False), (4, 1, 3, True), (2, 2, 3, True), (1, 3, 3, False), (1, 1, 0, True)],
)
def test_delay_in_micro_steps_against_delta_max(delay, q, max_offset, beyond):
    reason = offset_beyond_training(delay, q, TrainedOffset(max_offset, "ckpt/finetune.yaml"))
    if not beyond:
        assert reason is None
        return
    assert reason is not None
    assert f"Δ = {delay} steps x q = {q} is {delay * q} micro-steps" in reason
    assert f"beyond the Δmax = {max_offset} the checkpoint was trained with" in reason
    assert "ckpt/finetune.yaml" in reason


def test_unknown_delta_max_is_never_exceeded():
    assert offset_beyond_training(50, 4, TrainedOffset(None, "no options")) is None
