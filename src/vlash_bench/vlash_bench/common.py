"""What every benchmark of the suite shares: CLI flags, machine record, outputs.

Every benchmark writes ``<out>/<name>.json`` (the config it ran, the machine it ran on, the
measured figures, the paper's figures beside them, the runtime) and ``<out>/<name>.png``.
``BENCHMARKS.md`` is generated from those files only (``vlash_bench.report``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("benchmarks/results")
RESULT_KEYS = ("benchmark", "quick", "config", "machine", "runtime_s", "results", "paper")


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--quick`` (CI smoke size) and ``--out DIR``."""
    p = argparse.ArgumentParser(prog=f"benchmarks {name}", description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for CI")
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})"
    )
    return p


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python/torch versions and the git commit the figures were measured at."""
    import torch

    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git("rev-parse", "HEAD"),
        # Uncommitted changes to tracked files at measurement time (other work in progress).
        "git_dirty": bool(dirty) and dirty != "unknown",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_result(
    out_dir: Path,
    name: str,
    *,
    quick: bool,
    config: dict[str, Any],
    results: dict[str, Any],
    paper: dict[str, Any],
    runtime_s: float,
    figure,
) -> dict[str, Any]:
    """Write ``<name>.json`` and save ``figure`` as ``<name>.png`` in ``out_dir``; returns the dict.

    ``figure`` is a matplotlib Figure (closed here).
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "quick": quick,
        "config": config,
        "machine": machine_info(),
        "runtime_s": runtime_s,
        "results": results,
        "paper": paper,
    }
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    figure.savefig(out_dir / f"{name}.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {out_dir / f'{name}.json'} and {out_dir / f'{name}.png'} ({runtime_s:.1f} s)")
    return result


def figure(ncols: int = 1, *, nrows: int = 1, width: float = 6.0, height: float = 4.0):
    """A figure with ``nrows x ncols`` axes (row-major list) on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, [ax for row in axes for ax in row]


def embedded_checkpoint() -> Path | None:
    """The trained default checkpoint shipped with the package, None while it does not exist."""
    from vlash_policy.embedded import default_checkpoint_dir

    try:
        return default_checkpoint_dir()
    except FileNotFoundError:
        return None
