"""Dispatch ``<name> [--quick] [--out DIR]`` or ``all`` to the benchmark modules.

A benchmark module has ``NAME``, ``main(argv) -> dict`` (writes its JSON and PNG) and
``report_section(result) -> str`` (its part of BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import ModuleType


def run_cli(benchmarks: Mapping[str, ModuleType], argv: Sequence[str] | None, prog: str) -> int:
    """``<name> args...`` runs one benchmark; ``all args...`` runs each in order with ``args``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = ", ".join([*benchmarks, "all"])
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m {prog} {{{names}}} [--quick] [--out DIR] [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        for module in benchmarks.values():
            module.main(rest)
        return 0
    if name not in benchmarks:
        print(f"{prog}: unknown benchmark {name!r}; choose from {names}", file=sys.stderr)
        return 2
    benchmarks[name].main(rest)
    return 0
