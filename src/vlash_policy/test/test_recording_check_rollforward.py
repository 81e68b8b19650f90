"""`python -m vlash_policy.recording.check_rollforward`: rolled states against executor commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vlash_policy.recording.bag_io import BagWriter, make_typestore
from vlash_policy.recording.check_rollforward import (
    AFTER_LAST_REPORT,
    MISSING_REPORT,
    NO_COMMAND_YET,
    NOT_AS_PLANNED,
    OTHER_JOINTS,
    check_rolled_states,
    main,
)

JOINTS = ["shoulder", "elbow"]
MAX_STEP = 0.25
# Steps 0-1 hold before any joint state arrived, 2-5 and 8-9 execute, 6-7 hold. Step 3 moves the
# elbow by exactly the step limit (it bound there).
COMMANDS = {
    2: [0.1, 0.2],
    3: [0.15, 0.45],
    4: [0.2, 0.5],
    5: [0.3, 0.55],
    8: [0.4, 0.6],
    9: [0.5, 0.6],
}


def _held(step: int) -> list[float]:
    """The command in force after ``step``: the last one executed (nothing before step 2)."""
    executed = [s for s in COMMANDS if s <= step]
    return COMMANDS[max(executed)] if executed else []


TYPESTORE = make_typestore()
T = TYPESTORE.types


def _report(step: int, *, make=SimpleNamespace, limits: bool = True, held=None, **extra):
    executed = [step] if step in COMMANDS else []
    fields = {
        "step": step,
        "command_in_force": np.asarray(_held(step) if held is None else held, dtype=np.float64),
        "steps": np.array(executed, np.int64),
        "chunk_ids": np.array([1] * len(executed), np.uint64),
        "indices": np.array([step - 2] * len(executed), np.uint32),
        "commanded_positions": np.array([COMMANDS[s] for s in executed], float).reshape(-1),
        "joint_names": JOINTS,
    }
    if limits:
        fields.update(
            position_lower=np.full(2, -1.0),
            position_upper=np.full(2, 1.0),
            max_step_per_tick=np.full(2, MAX_STEP),
        )
    return make(**fields, **extra)


def _rolled(t: int, target: int, positions, *, names=JOINTS, make=SimpleNamespace, **extra):
    """A RolledState whose plan for [t, target) is what the executor ran (chunk 1), by default."""
    steps = [s for s in range(t, target) if s in COMMANDS]
    plan = {
        "action_steps": np.array(steps, np.int64),
        "action_chunk_ids": np.ones(len(steps), np.uint64),
        "action_indices": np.array([s - 2 for s in steps], np.uint32),
        "action_executed": np.ones(len(steps), bool),
    }
    return make(
        measured_step=t,
        target_step=target,
        joint_names=list(names),
        rolled_positions=np.asarray(positions, dtype=np.float64),
        **{**plan, **extra},
    )


def test_each_rolled_state_is_compared_with_the_command_in_force_at_target_minus_one():
    reports = [_report(k) for k in range(10)]
    rolled = [
        _rolled(0, 1, [9.0, 9.0]),  # step 0: nothing commanded yet
        _rolled(2, 5, COMMANDS[4]),  # executed at step 4; the window [2, 5) has step 3
        _rolled(5, 8, COMMANDS[5][::-1], names=JOINTS[::-1]),  # held since step 5; other order
        _rolled(3, 5, np.add(COMMANDS[4], [0.0, 2e-6])),  # off by 2e-6 rad
        _rolled(9, 12, COMMANDS[9]),  # after the last report
        _rolled(4, 6, [0.2], names=JOINTS[:1]),  # lacks a joint
    ]
    report = check_rolled_states(rolled, reports, tolerance=1e-6)
    checks = report.checks
    assert [c.reason for c in checks] == [
        NO_COMMAND_YET, None, None, None, AFTER_LAST_REPORT, OTHER_JOINTS
    ]  # fmt: skip
    assert [c.error for c in checks[1:3]] == [0.0, 0.0]
    assert checks[3].error == pytest.approx(2e-6, rel=1e-6)
    assert [c.step_limited for c in checks[1:4]] == [True, False, True]  # step 3 in [2, 5), [3, 5)
    assert len(report.checked) == 3 and report.mismatched == [checks[3]]
    assert report.max_error == checks[3].error
    assert not report.ok
    np.testing.assert_array_equal(report.max_step_per_tick, [MAX_STEP, MAX_STEP])
    assert check_rolled_states(rolled[:3], reports, tolerance=1e-6).ok


def test_a_re_seed_while_holding_is_the_command_in_force():
    """The executor re-seeded its hold from the arm at step 7: only its report shows it."""
    reseeded = [0.35, 0.5]
    reports = [_report(k, held=reseeded if k == 7 else None) for k in range(10)]
    report = check_rolled_states(
        [_rolled(5, 8, reseeded), _rolled(4, 7, COMMANDS[5])], reports, tolerance=1e-6
    )
    assert report.ok and [c.error for c in report.checks] == [0.0, 0.0]


def test_a_window_the_executor_did_not_run_as_planned_is_counted_apart():
    """The plan moved at step 6 (a chunk that then arrived late), the executor held there."""
    reports = [_report(k) for k in range(10)]
    late = _rolled(
        5, 7, [0.33, 0.55], action_steps=np.array([5, 6]), action_chunk_ids=np.array([1, 2])
    )
    report = check_rolled_states([late], reports, tolerance=1e-6)
    assert report.not_checkable == {NOT_AS_PLANNED: 1} and not report.checked


def test_a_missing_report_makes_a_held_step_unknowable():
    reports = [_report(k) for k in range(10) if k != 7]
    report = check_rolled_states([_rolled(5, 8, COMMANDS[5])], reports, tolerance=1e-6)
    assert report.not_checkable == {MISSING_REPORT: 1}
    assert not report.ok  # nothing was checked


def test_reports_without_limits_leave_the_step_limit_unknown():
    reports = [_report(k, limits=False) for k in range(10)]
    report = check_rolled_states([_rolled(2, 5, COMMANDS[4])], reports, tolerance=1e-6)
    assert report.ok
    assert report.max_step_per_tick is None and report.checks[0].step_limited is None


def _header(step: int):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=100 + step, nanosec=0), frame_id=""
    )


def _write_bag(path: Path, rolled_offset: float) -> Path:
    topics = {
        "/arm1/vlash/executed_actions": "vlash_msgs/msg/ExecutedActions",
        "/arm1/vlash/rolled_state": "vlash_msgs/msg/RolledState",
    }
    extra = {
        "holding": False, "dropped_actions": 0, "running_chunk_id": 1, "steps_left": 0,
        "tick_lateness": 0.0, "control_period": 0.1,
    }  # fmt: skip
    with BagWriter(path, topics, typestore=TYPESTORE) as bag:
        for k in range(10):
            msg = _report(k, make=T["vlash_msgs/msg/ExecutedActions"], header=_header(k), **extra)
            bag.write_message("/arm1/vlash/executed_actions", (100 + k) * 10**9, msg)
        for t, target in ((2, 5), (5, 8)):
            rolled = _rolled(
                t, target, np.add(COMMANDS[min(target - 1, 5)], rolled_offset),
                make=T["vlash_msgs/msg/RolledState"], header=_header(t),
                measured_positions=np.zeros(2),
            )  # fmt: skip
            bag.write_message("/arm1/vlash/rolled_state", (100 + t) * 10**9, rolled)
    return path


def test_cli_counts_and_exit_status(tmp_path, capsys):
    good = _write_bag(tmp_path / "good", 0.0)
    done = subprocess.run(
        [sys.executable, "-m", "vlash_policy.recording.check_rollforward", str(good)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "rolled states:  2 (one per chunk)" in out
    assert "matched:        2 within 1e-06 rad" in out and "mismatched:     0" in out
    assert "max error:      0 rad" in out
    assert "step limit:     bound in 1 of 2 checked windows [t, t+Δ)" in out
    assert out.rstrip().endswith("OK: every checked rolled state is the executor's command at "
                                 "target_step - 1")  # fmt: skip

    assert main([str(_write_bag(tmp_path / "bad", 1e-3))]) == 1
    out = capsys.readouterr().out
    assert "mismatched:     2" in out and "max error:      0.001 rad" in out
    assert (
        "MISMATCH: t = 2, t+Δ = 5: rolled state off by 0.001 rad from the command at step 4" in out
    )

    assert main([str(good), "--tolerance", "-1"]) == 2
    assert "tolerance must be finite and >= 0" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "is not a rosbag2 directory" in capsys.readouterr().err
