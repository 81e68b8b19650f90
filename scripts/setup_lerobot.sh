#!/usr/bin/env bash
# The LeRobot environment .venv-lerobot, beside the suite's .venv (`make lerobot-env`): Python
# 3.11, torch/torchvision, lerobot's inference dependencies at the pins of
# requirements/lerobot.txt, then lerobot itself with --no-deps, then an offline import check of
# the SmolVLA, π0 and π0.5 policies. The LeRobot inference worker
# (vlash_policy.lerobot_backend.worker) runs in it. Idempotent: a stamp in .setup-stamps/ holds
# the hash of the pins and of this script, so a second run only checks and takes about a second.
# `make setup` does not run this; `rm -rf .venv-lerobot` sets it up from nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/.setup-stamps"
mkdir -p "$STAMPS"
VENV=.venv-lerobot
PINS=requirements/lerobot.txt
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
SETUP_START=$EPOCHREALTIME

elapsed() {  # elapsed START: seconds since START (an $EPOCHREALTIME value), one decimal
    local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
    printf '%d.%d s' $(( us / 1000000 )) $(( us / 100000 % 10 ))
}
say() { printf '[lerobot-env] %s\n' "$*"; }
stamp_is() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
KEY="$(cat "$PINS" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
pip=("$VENV/bin/python" -m pip install --quiet --progress-bar off)

step_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        say "venv: $VENV exists ($("$VENV/bin/python" --version))"; return
    fi
    "$PYTHON" -c 'import sys; v = sys.version_info[:2]
if v != (3, 11): sys.exit(f"the LeRobot environment is built with Python 3.11; {sys.executable} is {v}")'
    say "venv: creating $VENV with $("$PYTHON" --version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMPS/lerobot"
    # The suite's colcon build must not crawl into it.
    touch "$VENV/COLCON_IGNORE"
}

installed() { stamp_is lerobot "$KEY"; }

step_torch() {
    if installed; then say "torch: pins unchanged, nothing to install"; return; fi
    say "torch: $(grep -E '^(torch|torchvision)==' "$PINS" | tr '\n' ' ')(about 5.5 GB, a CUDA build)"
    # shellcheck disable=SC2046  # one argument per pin line
    "${pip[@]}" $(grep -E '^(torch|torchvision)==' "$PINS")
}

step_deps() {
    if installed; then say "deps: pins unchanged, nothing to install"; return; fi
    say "deps: lerobot's inference dependencies at the pins of $PINS"
    "${pip[@]}" -r <(grep -v '^lerobot==' "$PINS")
}

step_lerobot() {
    if installed; then say "lerobot: pins unchanged, nothing to install"; return; fi
    local pin; pin="$(grep -oE '^lerobot==[^ ]+' "$PINS")"
    say "lerobot: $pin with --no-deps"
    "${pip[@]}" --no-deps "$pin"
}

step_check() {
    if installed; then say "check: done when installed"; return; fi
    say "check: importing the SmolVLA, π0 and π0.5 policies offline"
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" -c '
import lerobot, torch, transformers
import lerobot.policies.smolvla.modeling_smolvla, lerobot.policies.pi0.modeling_pi0
import lerobot.policies.pi05.modeling_pi05
from lerobot.policies.factory import get_policy_class, make_pre_post_processors
print(f"[lerobot-env]   lerobot {lerobot.__version__}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}")'
    echo "$KEY" > "$STAMPS/lerobot"
}

for step in venv torch deps lerobot check; do
    t0=$EPOCHREALTIME
    "step_$step"
    say "  $step took $(elapsed "$t0")"
done
say "done in $(elapsed "$SETUP_START"): $VENV/bin/python"
