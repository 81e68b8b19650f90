#!/usr/bin/env bash
# `make demo`: the suite's main job, run after set-up.
# PLACEHOLDER (issue: closed loop): the closed loop -- simulated SO-101 arm, executor node and VLASH
# policy node -- is not wired up yet (the policy needs a checkpoint). Once it is, this becomes:
#   python scripts/vlash_launch.py --profile sim --strategy vlash
# and prints the run's results.
set -euo pipefail
echo "PLACEHOLDER: the closed-loop demo is not wired up yet (sim arm + executor + VLASH policy;"
echo "the policy node needs a checkpoint: model_path in config/policy.yaml)."
echo "Set-up is complete: 'make test' runs everything that exists."
