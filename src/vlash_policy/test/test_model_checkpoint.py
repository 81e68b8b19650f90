"""Checkpoint round trip and the errors a corrupt or mismatched directory must raise."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model import VLAConfig, tiny
from vlash_policy.model.checkpoint import (
    CheckpointError,
    build_default_model,
    load_checkpoint,
    save_checkpoint,
)


def tiny_config(**overrides) -> VLAConfig:
    return tiny.tiny_config(
        **{"horizon": 4, "num_cameras": 1, "camera_names": ["front"], "num_steps": 2, **overrides}
    )


def stats(state_dim: int = 2, action_dim: int = 3) -> NormalizationStats:
    def feature(dim: int) -> FeatureStats:
        return FeatureStats(
            np.arange(dim, dtype=float), np.ones(dim) * 2, -np.ones(dim), np.ones(dim), 10
        )

    return NormalizationStats(state=feature(state_dim), action=feature(action_dim))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model, tokenizer = build_default_model(tiny_config())
    directory = save_checkpoint(
        model.eval(), tmp_path / "ckpt", tokenizer=tokenizer, normalization=stats()
    )
    return model, tokenizer, directory


def _sample(model, tokenizer):
    enc = tokenizer(["pick up the red cube", "open"], padding=True, return_tensors="pt")
    gen = torch.Generator().manual_seed(7)
    images = torch.rand(2, 1, 3, 32, 32, generator=gen)
    state = torch.randn(2, 2, generator=gen)
    noise = torch.randn(2, 4, 3, generator=gen)
    afm_noise = torch.randn(2, 4, 3, generator=gen)
    with torch.no_grad():
        prefix = model.encode_prefix(images, enc["input_ids"], enc["attention_mask"])
        return model.sample(prefix, state, noise, threshold=0.9, afm_noise=afm_noise)


def test_round_trip_gives_identical_outputs(saved):
    model, tokenizer, directory = saved
    loaded = load_checkpoint(directory)
    assert loaded.config == model.config
    assert (
        loaded.tokenizer("pick up the cube")["input_ids"]
        == tokenizer("pick up the cube")["input_ids"]
    )
    np.testing.assert_array_equal(loaded.normalization.action.mean, [0.0, 1.0, 2.0])
    before, after = _sample(model, tokenizer), _sample(loaded.model, loaded.tokenizer)
    assert torch.equal(before.actions, after.actions)
    assert torch.equal(before.confidence, after.confidence)


def test_missing_file_is_named(saved):
    _, _, directory = saved
    (directory / "normalization.json").unlink()
    with pytest.raises(CheckpointError, match=r"normalization\.json"):
        load_checkpoint(directory)


def test_corrupt_weights_file_is_named(saved):
    _, _, directory = saved
    (directory / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_checkpoint(directory)


def test_truncated_weights_file_is_named(saved):
    _, _, directory = saved
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is not a readable safetensors"):
        load_checkpoint(directory)


def test_pickle_is_never_loaded(saved):
    _, _, directory = saved
    state = load_file(str(directory / "model.safetensors"))
    (directory / "model.safetensors").write_bytes(pickle.dumps(state))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(directory)


def test_missing_and_unexpected_tensors_are_listed(saved):
    _, _, directory = saved
    state = load_file(str(directory / "model.safetensors"))
    del state["velocity_head.weight"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(directory)
    message = str(info.value)
    assert "model.safetensors" in message
    assert "missing tensors ['velocity_head.weight']" in message
    assert "unexpected tensors ['extra.weight']" in message


def test_shape_mismatch_reports_both_shapes(saved):
    _, _, directory = saved
    state = load_file(str(directory / "model.safetensors"))
    state["velocity_head.weight"] = torch.zeros(5, 16)
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"'velocity_head.weight' has shape \(5, 16\).*\(3, 16\)"
    ):
        load_checkpoint(directory)


def test_config_that_does_not_match_the_weights(saved):
    model, _, directory = saved
    dataclasses.replace(model.config, expert_width=24).save(directory / "config.json")
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(directory)


def test_bad_config_json_is_named(saved):
    _, _, directory = saved
    (directory / "config.json").write_text('{"no_such_field": 1}')
    with pytest.raises(CheckpointError, match=r"config.json.*no_such_field"):
        load_checkpoint(directory)


def test_normalization_dimension_mismatch(saved):
    _, _, directory = saved
    stats(state_dim=5).save(directory / "normalization.json")
    with pytest.raises(CheckpointError, match="state statistics have 5 dims"):
        load_checkpoint(directory)
