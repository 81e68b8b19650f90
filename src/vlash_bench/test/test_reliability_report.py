"""RELIABILITY.md is rendered from the run's JSON alone, every total and fault from it."""

import json

from vlash_bench.reliability import report


def _result() -> dict:
    row = {"sent": 3, "outcome": "non_finite", "node_count_of_outcome": 3}
    accepted = {"sent": 2, "outcome": "accepted", "node_count_of_outcome": None}
    return {
        "command": "python test/reliability_run.py --chunks 3",
        "seed": 0,
        "duration_s": 12.5,
        "machine": {"cpu": "CPU", "cores": 2, "git_commit": "0123456789abcdef", "git_dirty": False,
                    "date": "2026-12-01"},
        "executor": {"control_rate_hz": 30.0, "position_limits_rad": [-1.2, 1.2],
                     "max_step_per_tick_rad": 0.05, "ticks": 900},
        "inputs": {
            "ActionChunk": {"sent": 5, "received": 5, "lost": 0,
                            "kinds": {"nan": row, "valid": accepted},
                            "accepted_expected": 2, "accepted_counted": 2, "passed_expected": 0,
                            "passed_counted": 0},
            "Image": {"sent": 3, "kinds": {"truncated": row | {"outcome": "data_length"}}},
            "JointState": {"sent": 3, "kinds": {"policy": {"nan_position": row},
                                                "executor": {"nan_position": row}}},
        },
        "commands": {"checked": 880, "position_violations": 0, "step_violations": 0,
                     "non_finite": 0, "largest_step_fraction": 1.0, "violations": 0},
        "holds": {"runs_out": 4, "max_hold_lag_ticks": 1},
        "faults": [{"fault": "camera stopped 2 s", "recovery_ticks": 18, "ok": True,
                    "held_during_gap": True, "chunks_from_stale_frames": 0}],
        "crashes": [],
        "messages_lost": {"ActionChunk": 0, "executor_reports": 0, "bag": 0,
                          "refused_inputs_uncounted": 0},
    }  # fmt: skip


def test_the_markdown_carries_the_totals_kinds_and_faults(tmp_path):
    results = tmp_path / "reliability" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(_result()))
    markdown = tmp_path / "RELIABILITY.md"
    assert report.main(["--results", str(results), "--output", str(markdown)]) == 0
    text = markdown.read_text()
    assert "from `reliability/results.json`, written by `python test/reliability_run.py" in text
    assert "| commands checked | 880 |" in text
    assert "| limit violations (position / per-tick step / non-finite) | 0 / 0 / 0 |" in text
    assert "| nan | 3 | non_finite | 3 |" in text and "| valid | 2 | accepted | - |" in text
    assert "| truncated | 3 | data_length | 3 |" in text
    assert "The executor counted: non_finite 3." in text
    assert "| camera stopped 2 s | 18 | held while the camera was off: yes; chunks from" in text
