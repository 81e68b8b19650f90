"""``python -m vlash_bench {strategies,...,all,report} [--quick] [--out DIR]``.

The suite's one entry point, above everything it measures: the simulator benchmarks and the
model-only ones (inference, packing); ``report`` regenerates BENCHMARKS.md from the committed
results.
"""

from __future__ import annotations

import sys

from vlash_bench import (
    inference,
    lerobot_bridge,
    packing,
    quantization,
    reaction,
    refiner,
    report,
    strategies,
)
from vlash_bench.cli import run_cli

BENCHMARKS = {
    module.NAME: module
    for module in (strategies, refiner, quantization, reaction, inference, packing, lerobot_bridge)
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        return report.main(argv[1:], BENCHMARKS)
    return run_cli(BENCHMARKS, argv, "vlash_bench")


if __name__ == "__main__":
    raise SystemExit(main())
