#!/usr/bin/env bash
# `make demo`: the suite's main job, run after set-up.
# PLACEHOLDER (issue: closed loop): the closed loop -- simulated SO-101 arm, executor node and VLASH
# policy node -- does not exist yet. When its nodes are installed, this script becomes:
#   python scripts/vlash_launch.py --profile sim --strategy vlash
# and prints the run's results.
set -euo pipefail
echo "PLACEHOLDER: the closed-loop demo is not implemented yet (nodes vlash_executor/executor_node,"
echo "vlash_executor/sim_arm_node and vlash_policy/policy_node are still to be written)."
echo "Set-up is complete: 'make test' runs everything that exists."
