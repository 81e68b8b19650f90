# Environment for building, running and testing the suite. Source it: `source scripts/env.sh`.
# One place for it, so make targets, colcon, the launcher and the tests all see the same setup.
#
# With a sourced ROS 2 distro (ROS_DISTRO set, /opt/ros/$ROS_DISTRO present) the distro provides
# ROS; otherwise the ROS 2 Kilted pip wheels inside .venv form the ROS prefix.

VLASH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VLASH_ROOT

# ROS setup files read unset variables; don't let a caller's `set -u` abort them.
_vlash_had_nounset=0
case $- in *u*) _vlash_had_nounset=1; set +u ;; esac

if [ -n "${ROS_DISTRO:-}" ] && [ -d "/opt/ros/${ROS_DISTRO}" ]; then
    # shellcheck disable=SC1090
    source "/opt/ros/${ROS_DISTRO}/setup.bash"
fi

if [ ! -x "$VLASH_ROOT/.venv/bin/python" ]; then
    echo "scripts/env.sh: $VLASH_ROOT/.venv missing; run 'make setup' first" >&2
    if [ "$_vlash_had_nounset" = 1 ]; then set -u; fi
    return 1
fi
# shellcheck disable=SC1091
source "$VLASH_ROOT/.venv/bin/activate"

_vlash_prepend() {  # _vlash_prepend VAR DIR: put DIR first in the colon list VAR, once.
    local current="${!1:-}"
    case ":$current:" in *":$2:"*) return ;; esac
    export "$1=$2${current:+:$current}"
}

if [ -z "${ROS_DISTRO:-}" ] || [ ! -d "/opt/ros/${ROS_DISTRO}" ]; then
    # The wheels install a ROS prefix into the venv: ament index look-ups at configure time
    # ("No 'rosidl_typesupport_c' found"), CMake packages and shared libraries live there.
    _vlash_prepend AMENT_PREFIX_PATH "$VIRTUAL_ENV"
    _vlash_prepend CMAKE_PREFIX_PATH "$VIRTUAL_ENV"
    _vlash_prepend LD_LIBRARY_PATH "$VIRTUAL_ENV/lib"
fi

if [ -f "$VLASH_ROOT/install/setup.bash" ]; then
    # shellcheck disable=SC1091
    source "$VLASH_ROOT/install/setup.bash"
fi
unset -f _vlash_prepend

export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
# MuJoCo renders offscreen through Mesa's EGL here; osmesa failed on these machines.
export MUJOCO_GL=egl

if [ "$_vlash_had_nounset" = 1 ]; then set -u; fi
unset _vlash_had_nounset
