"""Smoke runs of the simulated-loop benchmarks at --quick size and the generated report.

They check the output structure only, never speed.
"""

from __future__ import annotations

import json

import pytest

from vlash_bench import common, quantization, refiner, report, strategies
from vlash_bench.__main__ import BENCHMARKS, main


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    for name in ("strategies", "refiner", "quantization", "packing"):
        main([name, "--quick", "--out", str(out)])
    return out


def _load(results, name):
    data = json.loads((results / f"{name}.json").read_text())
    assert tuple(data) == common.RESULT_KEYS and data["benchmark"] == name and data["quick"]
    assert (results / f"{name}.png").stat().st_size > 0
    return data


def _check_summary(row, episodes):
    assert row["episodes"] == episodes and 0 <= row["hits"] <= episodes
    low, high = row["hit_rate_ci95"]
    assert 0.0 <= low <= row["hit_rate"] <= high <= 1.0


@pytest.mark.slow
def test_strategies_quick(results):
    data = _load(results, "strategies")
    c, r = data["config"], data["results"]
    assert {(row["strategy"], row["delay_steps"]) for row in r["expert"]} == {
        (s, d) for s in strategies.EXPERT_STRATEGIES for d in c["expert_delays"]
    }
    assert {(row["strategy"], row["delay_steps"]) for row in r["learned"]} == {
        (s, d) for s in strategies.LEARNED_STRATEGIES for d in c["learned_delays"]
    }
    for row in r["expert"] + r["learned"]:
        _check_summary(row, c["episodes"])
    assert data["paper"]["vlash_success_d4"] == 0.817


@pytest.mark.slow
def test_refiner_quick(results):
    data = _load(results, "refiner")
    rows = data["results"]["variants"]
    assert [row["variant"] for row in rows] == list(refiner.VARIANTS)
    for row in rows:
        _check_summary(row, data["config"]["episodes"])
    calibration = data["results"]["rater_calibration"]
    assert calibration["tokens"] == calibration["chunks"] * 16 > 0
    assert -1.0 <= calibration["spearman_confidence_error"] <= 1.0
    assert 0.0 <= calibration["refined_fraction"] <= 1.0


@pytest.mark.slow
def test_quantization_quick(results):
    data = _load(results, "quantization")
    rows = data["results"]["points"]
    c = data["config"]
    assert len(rows) == len(c["policies"]) * len(c["protocols"]) * len(c["quantizations"])
    for row in rows:
        _check_summary(row, c["episodes"])
        if row["quantization"] == 1 and row["speedup_vs_q1"] is not None:
            assert row["speedup_vs_q1"] == pytest.approx(1.0)
    assert quantization.PAPER["speedup"]["2"] == 2.03


@pytest.mark.slow
def test_report_has_every_result_table_and_plot(results, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    assert main(["report", "--results", str(results), "--output", str(output)]) == 0
    text = output.read_text()
    for name in ("strategies", "refiner", "quantization", "packing"):
        assert f"## {name}" in text
        assert f"{name}.png)" in text
    assert "do not edit by hand" in text
    assert text.count("not meaningful") == 4
    assert text.index("## strategies") < text.index("## refiner") < text.index("## packing")


def test_report_rejects_a_foreign_json(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a benchmark result"):
        report.load_results(tmp_path)


def test_every_benchmark_is_registered():
    assert list(BENCHMARKS) == [
        "strategies",
        "refiner",
        "quantization",
        "reaction",
        "inference",
        "packing",
        "lerobot_bridge",
    ]
