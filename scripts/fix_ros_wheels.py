"""Rewrite build-machine paths baked into the ROS 2 wheels' CMake exports (idempotent).

The exported targets of the message wheels name include directories of the machine that built the
wheels (/opt/python/cp311-cp311/...). CMake then stops with "Imported target ... includes
non-existent path". Point them at this interpreter's include dir and numpy's.

Usage: python scripts/fix_ros_wheels.py VENV_DIR  (run with that venv's python)
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_MACHINE_PATHS = {
    "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
    "/opt/python/cp311-cp311/include/python3.11": sysconfig.get_paths()["include"],
}


def fix(venv: Path) -> int:
    """Rewrite the paths in every ``share/**/*.cmake`` under ``venv``; return files changed."""
    changed = 0
    for cmake_file in sorted((venv / "share").glob("**/*.cmake")):
        text = cmake_file.read_text()
        new = text
        for old, replacement in BUILD_MACHINE_PATHS.items():
            new = new.replace(old, replacement)
        if new != text:
            cmake_file.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    count = fix(Path(sys.argv[1]))
    print(f"[setup] fix-ups: rewrote build-machine include paths in {count} .cmake files")
