"""The algorithm library imports no ROS: only the node adapters may.

Every module of the Python packages is imported in a fresh interpreter, except the thin ROS adapters
(``*_node.py`` and the helpers only nodes use: ``command_output.py``, ``node_runner.py``,
``node_diagnostics.py`` and the nodes' parameter tables); afterwards no ROS client library or
message package may have been loaded, directly or through another module.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "vlash_core",
    "asyncvla_refiner",
    "vlash_policy",
    "vlash_executor",
    "vlash_sim",
    "vlash_bench",
)
ROS_ADAPTERS = (
    "command_output",
    "node_runner",
    "node_diagnostics",
    "executor_parameters",
    "policy_parameters",
    "policy_messages",
)
ROS_MODULE_ROOTS = (
    "rclpy",
    "rcl_interfaces",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "geometry_msgs",
    "trajectory_msgs",
    "vlash_msgs",
    "diagnostic_msgs",
    "launch",
    "launch_ros",
)


def core_modules() -> list[str]:
    modules = []
    for package in PACKAGES:
        source = ROOT / "src" / package
        for path in sorted((source / package).rglob("*.py")):
            relative = path.relative_to(source).with_suffix("")
            name = ".".join(relative.parts).removesuffix(".__init__")
            if path.stem.endswith("_node") or path.stem in ROS_ADAPTERS:
                continue
            modules.append(name)
    return modules


def test_every_core_module_imports_without_loading_ros():
    modules = core_modules()
    assert len(modules) > 30, modules
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"roots = {ROS_MODULE_ROOTS!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"core modules loaded ROS modules: {loaded}"


def test_the_probe_detects_a_ros_import():
    probe = "import json, sys, rclpy\nprint(json.dumps('rclpy' in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) is True


HEAVY_MODULE_ROOTS = ("torch", "transformers", "mujoco", "cv2", "asyncvla_refiner", "vlash_policy")


def test_the_executor_node_loads_no_torch_transformers_or_mujoco():
    """What runs next to the arm installs without the model's or the simulator's stack."""
    probe = (
        "import json, sys\n"
        "import vlash_executor.executor_node\n"
        f"roots = {HEAVY_MODULE_ROOTS!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(roots))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_heavy_module_probe_detects_torch():
    probe = "import json, sys, torch\nprint(json.dumps('torch' in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) is True
