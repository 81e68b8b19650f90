"""The launcher's checkpoint check: files as the loader needs them, joints as the executor's."""

from __future__ import annotations

import json
import shutil

import pytest

from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_policy import checkpoint_preflight as preflight
from vlash_policy.data.normalization import NORMALIZATION_FILE
from vlash_policy.embedded import default_checkpoint_dir
from vlash_policy.model import checkpoint as loader


def test_file_names_are_the_loaders():
    assert preflight.CONFIG_FILE == loader.CONFIG_FILE
    assert preflight.WEIGHTS_FILE == loader.WEIGHTS_FILE
    assert preflight.TOKENIZER_DIR == loader.TOKENIZER_DIR
    assert preflight.NORMALIZATION_FILE == NORMALIZATION_FILE


def test_the_embedded_default_passes_for_the_so101():
    summary = preflight.preflight_checkpoint("", joint_names=SO101_JOINT_NAMES)
    assert summary.path == default_checkpoint_dir()
    assert summary.joint_names == tuple(SO101_JOINT_NAMES) and summary.camera_names == ("front",)
    assert preflight.preflight_checkpoint(None).path == summary.path


def test_each_problem_is_named(tmp_path):
    with pytest.raises(preflight.CheckpointError, match=f"directory {tmp_path / 'no'} does not"):
        preflight.preflight_checkpoint(tmp_path / "no")
    copy = tmp_path / "ckpt"
    shutil.copytree(default_checkpoint_dir(), copy)
    (copy / "model.safetensors").unlink()
    shutil.rmtree(copy / "tokenizer")
    with pytest.raises(preflight.CheckpointError, match=r"lacks model\.safetensors, tokenizer/;"):
        preflight.preflight_checkpoint(copy)
    shutil.copytree(default_checkpoint_dir(), copy, dirs_exist_ok=True)
    with pytest.raises(preflight.CheckpointError, match=r"is for joints \[.*'gripper'\] but the "
                       r"executor commands \['joint_1'\]"):  # fmt: skip
        preflight.preflight_checkpoint(copy, joint_names=["joint_1"])
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "camera_names": "front"}))
    with pytest.raises(preflight.CheckpointError, match="no list of strings 'camera_names'"):
        preflight.preflight_checkpoint(copy)
    (copy / "config.json").write_text("{")
    with pytest.raises(preflight.CheckpointError, match="is not readable JSON"):
        preflight.preflight_checkpoint(copy)
