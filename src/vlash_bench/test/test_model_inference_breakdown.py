"""The inference-breakdown benchmark runs end to end on a tiny checkpoint and reports shares."""

from __future__ import annotations

import json

import pytest

from vlash_bench.inference_breakdown import main, shares
from vlash_policy.model.tiny import SO101_ROBOT, save_random_checkpoint, tiny_config


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
    config = tiny_config(robot=SO101_ROBOT, text_layers=1, horizon=16, num_steps=2)
    save_random_checkpoint(tmp_path / "ckpt", config)
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
