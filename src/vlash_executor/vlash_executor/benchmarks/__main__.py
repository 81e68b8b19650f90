"""``python -m vlash_executor.benchmarks {strategies,...,all,report} [--quick] [--out DIR]``.

The suite's one entry point: the simulator benchmarks live here (vlash_executor depends on
vlash_policy, not the reverse) and the model-only ones in :mod:`vlash_policy.benchmarks`;
``report`` regenerates BENCHMARKS.md from the committed results.
"""

from __future__ import annotations

import sys

from vlash_executor.benchmarks import quantization, reaction, refiner, report, strategies
from vlash_policy.benchmarks import inference, packing
from vlash_policy.benchmarks.cli import run_cli

BENCHMARKS = {
    module.NAME: module
    for module in (strategies, refiner, quantization, reaction, inference, packing)
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        return report.main(argv[1:], BENCHMARKS)
    return run_cli(BENCHMARKS, argv, "vlash_executor.benchmarks")


if __name__ == "__main__":
    raise SystemExit(main())
