"""``python -m vlash_policy.benchmarks {inference,packing,all} [--quick] [--out DIR]``.

The model-only benchmarks; the full suite (with the simulator) is ``vlash_executor.benchmarks``.
"""

from __future__ import annotations

from vlash_policy.benchmarks import inference, packing
from vlash_policy.benchmarks.cli import run_cli

BENCHMARKS = {inference.NAME: inference, packing.NAME: packing}

if __name__ == "__main__":
    raise SystemExit(run_cli(BENCHMARKS, None, "vlash_policy.benchmarks"))
