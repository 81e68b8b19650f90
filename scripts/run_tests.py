"""Run every check of the suite and close with one line `N passed, M failed`.

Order: the static checks `ruff check`, `ruff format --check` and `mypy` (each counted as one
check), the per-package tests exactly as `colcon test` runs them (so a ROS user's `colcon test`
runs the same tests), then the cross-package integration tests in test/ with pytest. Exits
non-zero on any failure and also when no test ran at all, so a broken collection can never pass.
Run inside the environment of scripts/env.sh (`make test` does).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each counts as one check; .pre-commit-config.yaml runs the same commands before a commit.
# mypy takes its file list and strictness from pyproject.toml's [tool.mypy].
STATIC_CHECKS = {
    "ruff check": ["ruff", "check", "."],
    "ruff format": ["ruff", "format", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy"],
}


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        return self


def run(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd`` in the repo root, echoing its output live; return exit code and output."""
    print(f"\n[test] $ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    return proc.wait(), "".join(lines)


def colcon_counts(summary_output: str) -> Counts:
    """Counts from `colcon test-result` ("Summary: 12 tests, 0 errors, 1 failure, 3 skipped")."""
    match = re.search(
        r"Summary: (\d+) tests?, (\d+) errors?, (\d+) failures?, (\d+) skipped", summary_output
    )
    if match is None:
        raise ValueError("colcon test-result printed no 'Summary: N tests, ...' line")
    total, errors, failures, skipped = map(int, match.groups())
    return Counts(total - errors - failures - skipped, errors + failures, skipped)


def pytest_counts(output: str) -> Counts:
    """Counts from pytest's closing line, e.g. "3 failed, 40 passed, 2 skipped in 1.2s"."""
    closing = [ln for ln in output.splitlines() if re.search(r" in [\d.]+s", ln)]
    if not closing:
        raise ValueError("pytest printed no closing summary line")
    words = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (\w+)", closing[-1]))
    return Counts(
        passed=words.get("passed", 0) + words.get("xpassed", 0),
        failed=words.get("failed", 0) + words.get("error", 0) + words.get("errors", 0),
        skipped=words.get("skipped", 0) + words.get("xfailed", 0),
    )


def static_checks(
    runner: Callable[[list[str]], tuple[int, str]] = run,
) -> tuple[Counts, list[str]]:
    """Run every command of STATIC_CHECKS (all of them, even after a failure): counts, failures."""
    counts, failed = Counts(), []
    for name, cmd in STATIC_CHECKS.items():
        rc, _ = runner(cmd)
        counts += Counts(passed=1) if rc == 0 else Counts(failed=1)
        if rc:
            failed.append(name)
    return counts, failed


def main() -> int:
    total = Counts()

    static, problems = static_checks()
    total += static

    # Drop results of earlier runs so removed or renamed tests are not counted.
    run(["colcon", "test-result", "--delete-yes"])
    rc, _ = run(
        ["colcon", "test", "--event-handlers", "console_direct+", "--return-code-on-test-failure"]
    )
    if rc:
        problems.append(f"colcon test (exit {rc})")
    _, summary = run(["colcon", "test-result", "--all", "--verbose"])
    colcon = colcon_counts(summary)
    total += colcon

    rc, output = run([sys.executable, "-m", "pytest", "test", "-q"])
    integration = pytest_counts(output)
    total += integration
    if rc not in (0, 5):  # 5 = no tests collected, judged by the guard below
        problems.append(f"integration pytest (exit {rc})")

    print(
        f"\n[test] package tests (colcon): {colcon.passed} passed, {colcon.failed} failed, "
        f"{colcon.skipped} skipped"
    )
    print(
        f"[test] integration tests (test/): {integration.passed} passed, "
        f"{integration.failed} failed, {integration.skipped} skipped"
    )
    executed = colcon.passed + colcon.failed + integration.passed + integration.failed
    if executed == 0:
        problems.append("no test was executed")
    if problems:
        print(f"[test] FAILED: {'; '.join(problems)}")
    print(f"Total: {total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return 1 if problems or total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
