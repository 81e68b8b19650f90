"""Smoke runs of the model-only benchmarks at --quick size: output structure, never speed."""

from __future__ import annotations

import json

import pytest

from vlash_bench import common, inference, packing
from vlash_bench.cli import run_cli

MODEL_ONLY = {module.NAME: module for module in (inference, packing)}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert run_cli(MODEL_ONLY, ["all", "--quick", "--out", str(out), "--threads", "1"], "t") == 0
    return out


@pytest.mark.parametrize("module", [inference, packing])
def test_quick_run_writes_json_and_png(results, module):
    data = json.loads((results / f"{module.NAME}.json").read_text())
    assert tuple(data) == common.RESULT_KEYS
    assert data["benchmark"] == module.NAME and data["quick"] is True
    assert (results / f"{module.NAME}.png").stat().st_size > 0
    section = module.report_section(data)
    assert "|---" in section


def test_quick_results_hold_the_paper_figures(results):
    packing_result = json.loads((results / "packing.json").read_text())
    r = packing_result["results"]
    assert r["speedup"] == pytest.approx(r["unpacked_ms"] / r["packed_ms"])
    assert packing_result["paper"]["vlash_table3_speedup"] == 3.26
    breakdown = json.loads((results / "inference.json").read_text())["results"]
    for measured in breakdown.values():
        assert sum(measured["shares_with_kv_reuse_percent"].values()) == pytest.approx(100.0)
    assert "random" in breakdown


def test_unknown_benchmark_is_rejected(capsys):
    assert run_cli(MODEL_ONLY, ["nope"], "t") == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
