"""The fuzz and fault-injection run at CI size: a few hundred hostile inputs, every fault once.

test/reliability_run.py against real executor, policy and recorder processes over DDS (the full
run, >= 10,000 hostile chunks, is in RELIABILITY.md). Whatever arrives, the arm is never
commanded outside its limits or the per-tick step, no node crashes, every refusal is counted on
``/diagnostics`` by its kind, nothing is lost, and every fault is recovered from.
"""

from __future__ import annotations

import json

from reliability_run import run

pytest_plugins = ("checkpoints",)


def test_hostile_inputs_and_process_faults_never_make_an_unsafe_command(tmp_path, tiny_checkpoint):
    result = run(
        chunks=300, images=60, joint_states=60, seed=1, work=tmp_path, checkpoint=tiny_checkpoint
    )
    (tmp_path / "result.json").write_text(json.dumps(result, indent=1))  # for a failure's reader
    commands = result["commands"]
    assert commands["checked"] > 500, commands
    assert commands["violations"] == 0, commands
    # The limits were reached, not merely respected: hostile targets were clamped to the step.
    assert commands["largest_step_fraction"] > 0.99, commands
    assert result["crashes"] == [], result["crashes"]
    assert result["messages_lost"] == dict.fromkeys(result["messages_lost"], 0), result

    chunks = result["inputs"]["ActionChunk"]
    assert chunks["sent"] >= 300 and chunks["received"] == chunks["sent"], chunks
    assert chunks["accepted_counted"] == chunks["accepted_expected"], chunks
    assert chunks["passed_counted"] == chunks["passed_expected"] > 0, chunks
    tables = [chunks["kinds"], result["inputs"]["Image"]["kinds"]]
    tables += result["inputs"]["JointState"]["kinds"].values()
    for table in tables:
        for kind, row in table.items():
            if row["node_count_of_outcome"] is not None:  # refused: counted by its kind
                assert row["node_count_of_outcome"] >= row["sent"], (kind, row)

    faults = {f["fault"]: f for f in result["faults"]}
    assert len(faults) == 5, sorted(faults)
    for name, fault in faults.items():
        assert fault["ok"], fault
        if not name.startswith("recorder"):
            assert fault["recovery_ticks"] is not None and fault["recovery_ticks"] >= 0, fault
    assert result["holds"]["max_hold_lag_ticks"] == 1, result["holds"]
