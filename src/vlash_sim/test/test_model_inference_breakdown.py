"""The inference-breakdown benchmark runs end to end on a tiny checkpoint and reports shares."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model import VLAConfig
from vlash_policy.model.checkpoint import build_default_model, save_checkpoint
from vlash_sim.benchmarks.inference_breakdown import main, percentile, shares


def test_percentile_interpolates():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50.0) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95.0) == pytest.approx(4.8)
    assert percentile([7.0], 95.0) == 7.0


def test_shares_count_the_prefix_in_sfm():
    def stage(ms):
        return {"min_ms": ms, "median_ms": ms, "p95_ms": ms}

    cached = {"prefix": stage(1.0), "sfm": stage(4.0), "rater": stage(1.0), "afm": stage(4.0)}
    naive = {"prefix": stage(0.0), "sfm": stage(40.0), "rater": stage(3.0), "afm": stage(30.0)}
    assert shares(cached, cached) == pytest.approx({"sfm": 50.0, "rater": 10.0, "afm": 40.0})
    # SFM from the uncached run (40 ms), rater and AFM from the cached run (1 + 4 ms): of 45 ms.
    expected = {"sfm": 4000.0 / 45.0, "rater": 100.0 / 45.0, "afm": 400.0 / 45.0}
    assert shares(naive, cached) == pytest.approx(expected)


def test_benchmark_on_a_checkpoint_writes_json(tmp_path, capsys):
    config = VLAConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        text_config={
            "model_type": "qwen2",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
        },
        image_size=32,
        horizon=16,
        expert_width=16,
        expert_mlp_width=16,
        num_steps=2,
        rater_hidden=8,
        rater_layers=1,
        rater_heads=2,
    )
    torch.manual_seed(0)
    model, tokenizer = build_default_model(config)
    feature = FeatureStats(np.zeros(6), np.ones(6), -np.ones(6), np.ones(6), 1)
    save_checkpoint(
        model,
        tmp_path / "ckpt",
        tokenizer=tokenizer,
        normalization=NormalizationStats(state=feature, action=feature),
    )
    ckpt, out = str(tmp_path / "ckpt"), str(tmp_path / "b.json")
    result = main(["--checkpoint", ckpt, "--repeats", "2", "--json", out])
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(json.dumps(result))
    assert result["horizon"] == 16 and result["num_steps"] == 2
    for key in ("shares_with_kv_reuse_percent", "shares_asyncvla_accounting_percent"):
        assert sum(result[key].values()) == pytest.approx(100.0)
    assert result["without_kv_reuse"]["prefix"]["median_ms"] == 0.0
    assert "AsyncVLA" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--checkpoint", ckpt, "--horizon", "20", "--repeats", "1"])
