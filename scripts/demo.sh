#!/usr/bin/env bash
# `make demo`: the suite's main job, run after set-up -- the closed VLASH loop on the simulated
# SO-101 arm for about a minute, then a summary table and plots (scripts/demo.py; its --help lists
# the options, which this passes through).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
exec python scripts/demo.py "$@"
