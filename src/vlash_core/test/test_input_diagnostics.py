"""Tests for vlash_core.input_diagnostics: per-kind counts, throttled logs, the status."""

import pytest

from vlash_core.input_diagnostics import (
    OK,
    WARN,
    InputDiagnostics,
    RefusedInputError,
    parse_counts,
    received_key,
    refused_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_kind_logs_at_once_then_throttled_with_the_count_it_swallowed():
    clock = FakeClock()
    diagnostics = InputDiagnostics(log_period_s=2.0, clock=clock)
    nan = RefusedInputError("non_finite", "ActionChunk.actions[3] is NaN")
    line = diagnostics.refuse("ActionChunk", nan, label="7")
    assert line == "refused ActionChunk 7 (non_finite): ActionChunk.actions[3] is NaN"
    assert diagnostics.refuse("ActionChunk", nan) is None
    assert diagnostics.refuse("ActionChunk", nan) is None
    # Another kind right after is not swallowed.
    shape = RefusedInputError("shape", "ActionChunk.actions has 3 values")
    assert diagnostics.refuse("ActionChunk", shape) is not None
    clock.now = 2.5
    line = diagnostics.refuse("ActionChunk", nan)
    assert line is not None and line.endswith(
        "(+2 more non_finite refused since the last such log)"
    )
    assert diagnostics.count(refused_key("ActionChunk", "non_finite")) == 4
    assert diagnostics.refused_total == 5


def test_summary_warns_only_for_refusals_since_the_previous_summary_and_round_trips():
    diagnostics = InputDiagnostics()
    assert diagnostics.summary().level == OK
    for _ in range(3):
        diagnostics.received("JointState")
    diagnostics.refuse("JointState", RefusedInputError("missing_joints", "lacks joints ['a']"))
    diagnostics.add("clamped_commands", 4)
    summary = diagnostics.summary({"step": "12"})
    assert summary.level == WARN and summary.message == "1 inputs refused recently, 1 in all"
    counts = parse_counts(list(summary.values))
    assert counts == {
        received_key("JointState"): 3,
        refused_key("JointState", "missing_joints"): 1,
        "clamped_commands": 4,
        "step": 12,
    }
    assert diagnostics.summary().level == OK  # nothing new since


def test_refused_input_is_a_value_error_with_its_kind():
    with pytest.raises(ValueError, match="bad") as info:
        raise RefusedInputError("shape", "bad")
    assert info.value.kind == "shape"
