"""The bridge benchmark at --quick size: its figures are consistent, never judged on speed."""

from __future__ import annotations

import json

import pytest

from vlash_bench import common, lerobot_bridge
from vlash_policy.lerobot_backend.client import find_lerobot_python

try:
    find_lerobot_python()
    MISSING = ""
except FileNotFoundError as error:
    MISSING = str(error)


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=MISSING)
def test_quick_run_reports_overhead_as_total_minus_model_time(tmp_path):
    lerobot_bridge.main(["--quick", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "lerobot_bridge.json").read_text())
    assert tuple(data) == common.RESULT_KEYS and data["quick"]
    r = data["results"]
    assert r["policy_type"] == "smolvla" and r["calls"] == lerobot_bridge.QUICK["calls"]
    for name in ("direct_s", "bridge_total_s", "bridge_model_s", "overhead_s", "ping_s"):
        assert r[name]["n"] == r["calls"] and r[name]["min"] <= r[name]["median"]
    assert 0 < r["bridge_model_s"]["min"] < r["bridge_total_s"]["median"]
    assert "| overhead (bridge - model) |" in lerobot_bridge.report_section(data)
