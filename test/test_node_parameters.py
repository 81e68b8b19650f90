"""Bad parameter values stop a node at start-up, with one line naming the parameter and range.

The ranges are the parameters' descriptors (rclpy refuses a value outside them before the node
is built, ``ros2 param describe`` shows them); the checks that need more than one parameter or
the checkpoint (limits per joint, Δ or q beyond the chunk's horizon) are the nodes' own.
"""

from __future__ import annotations

import subprocess

import pytest

from vlash_bringup.graph import find_executable

pytest_plugins = ("checkpoints",)

CASES = [
    ("executor_node", ["control_rate_hz:=0.0"],
     "control_rate_hz out of range Min: 1.0, Max: 1000.0"),
    ("executor_node", ["control_rate_hz:=-30.0"], "control_rate_hz out of range"),
    ("executor_node", ["max_chunk_lead_s:=-1.0"], "max_chunk_lead_s out of range Min: 0.0"),
    ("executor_node", ["max_joint_velocity:=[0.0, 1.0, 1.0, 1.0, 1.0, 1.0]"],
     "max_joint_velocity: max_velocity must be in (0, inf) rad/s for every joint"),
    ("executor_node", ["position_lower:=[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]",
                       "position_upper:=[0.5, 1.0, 1.0, 1.0, 1.0, 1.0]"],
     "joint limit lower > upper for joint index 0: 1.0 > 0.5"),
    ("policy_node", ["quantization:=0"], "quantization out of range. Min: 1, Max: 100"),
    ("policy_node", ["refine_threshold:=1.0"],
     "refine_threshold out of range Min: 0.01, Max: 0.99"),
    ("policy_node", ["refine_threshold:=0.0"], "refine_threshold out of range"),
    ("policy_node", ["delay_mode:=fixed", "fixed_delay_steps:=17"],
     "parameter fixed_delay_steps=17 must be in [0, 16]: the checkpoint's chunks have horizon 16"),
]  # fmt: skip


@pytest.mark.parametrize(("executable", "parameters", "error"), CASES)
def test_a_bad_parameter_value_is_refused_at_start_up_by_name_and_range(
    executable, parameters, error, ros_graph, tiny_checkpoint
):
    package = "vlash_executor" if executable == "executor_node" else "vlash_policy"
    cmd = [str(find_executable(package, executable)), "--ros-args"]
    for parameter in [*parameters, f"model_path:={tiny_checkpoint}"]:
        cmd += ["-p", parameter]
    result = subprocess.run(cmd, env=ros_graph.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{executable}: failed to start:"), lines
    assert error in lines[0], lines[0]
