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


def test_every_static_check_runs_and_a_failing_one_fails_the_suite():
    ran = []

    def runner(cmd):
        ran.append(cmd)
        return (1 if cmd[:2] == ["ruff", "format"] else 0), ""

    counts, failed = run_tests.static_checks(runner)
    assert ran == list(run_tests.STATIC_CHECKS.values())
    assert counts == run_tests.Counts(passed=len(ran) - 1, failed=1)
    assert failed == ["ruff format"]
    assert {"ruff check", "ruff format", "mypy"} <= run_tests.STATIC_CHECKS.keys()


def test_pre_commit_runs_the_same_static_checks():
    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    entries = {hook["entry"] for hook in hooks}
    assert all(hook["language"] == "system" for hook in hooks)  # no network at commit time
    for cmd in run_tests.STATIC_CHECKS.values():
        words = ["python", *cmd[1:]] if cmd[0] == sys.executable else cmd
        assert " ".join(words) in entries
