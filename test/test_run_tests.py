"""The test runner's counting, which decides whether `make test` (and CI) passes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_spec = importlib.util.spec_from_file_location("run_tests", ROOT / "scripts" / "run_tests.py")
run_tests = importlib.util.module_from_spec(_spec)
sys.modules["run_tests"] = run_tests  # dataclasses resolve annotations through it
_spec.loader.exec_module(run_tests)


def test_colcon_summary_counts_errors_as_failures():
    out = "build/a/pytest.xml: 9 tests\n\nSummary: 12 tests, 1 error, 2 failures, 3 skipped\n"
    assert run_tests.colcon_counts(out) == run_tests.Counts(passed=6, failed=3, skipped=3)


def test_pytest_closing_line_counts():
    out = "....\n===== 3 failed, 40 passed, 2 skipped, 1 error, 1 warning in 1.25s =====\n"
    assert run_tests.pytest_counts(out) == run_tests.Counts(passed=40, failed=4, skipped=2)
    assert run_tests.pytest_counts("no tests ran in 0.01s") == run_tests.Counts()


def test_missing_summaries_are_errors_not_zero():
    with pytest.raises(ValueError, match="no 'Summary"):
        run_tests.colcon_counts("colcon crashed")
    with pytest.raises(ValueError, match="no closing summary"):
        run_tests.pytest_counts("Traceback ...")
