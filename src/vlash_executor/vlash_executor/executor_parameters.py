"""The executor node's parameters, each declared once: name, default, type, range, description.

``config/`` YAML and launch arguments only set values; ``ros2 param describe`` shows these.
"""

from vlash_core.cpu_placement import DEFAULT_FIFO_PRIORITY
from vlash_core.node_runner import parameter_descriptor
from vlash_core.so101 import SO101_JOINT_NAMES, SO101_MAX_JOINT_SPEED_RAD_S
from vlash_core.strategies import STRATEGY_NAMES

PARAMETERS = [
    (
        "joint_names",
        list(SO101_JOINT_NAMES),
        parameter_descriptor("Commanded joints, in action order."),
    ),
    (
        "control_rate_hz",
        30.0,
        parameter_descriptor("Control steps per second.", floats=(1.0, 1000.0)),
    ),
    (
        "strategy",
        "vlash",
        parameter_descriptor(f"Chunk switching strategy: {', '.join(STRATEGY_NAMES)}."),
    ),
    (
        "position_lower",
        [-3.2] * 6,
        parameter_descriptor("Joint position lower limits (rad), one per joint."),
    ),
    (
        "position_upper",
        [3.2] * 6,
        parameter_descriptor("Joint position upper limits (rad), one per joint."),
    ),
    (
        "max_joint_velocity",
        [SO101_MAX_JOINT_SPEED_RAD_S] * len(SO101_JOINT_NAMES),
        parameter_descriptor("Largest commanded joint speed (rad/s), one per joint."),
    ),
    (
        "policy_timeout_s",
        1.0,
        parameter_descriptor(
            "Hold when no chunk arrived for this long (0 disables).",
            floats=(0.0, 3600.0),
        ),
    ),
    (
        "joint_state_timeout_s",
        1.0,
        parameter_descriptor(
            "Hold when joint_states stopped arriving for this long (0 disables).",
            floats=(0.0, 60.0),
        ),
    ),
    (
        "reseed_distance_rad",
        0.0,
        parameter_descriptor(
            "Re-seed the hold position from a measured position farther than this "
            "from the last command in any joint, instead of moving back (rad; 0 "
            "disables: an arm that lags its commands far, like the simulated one).",
            floats=(0.0, 10.0),
        ),
    ),
    (
        "max_chunk_lead_s",
        2.0,
        parameter_descriptor(
            "Refuse a chunk whose start step lies more than this ahead of the "
            "executor's step (a policy plans Δ ahead; a chunk far beyond would wait, "
            "blocking the policy's trigger).",
            floats=(0.0, 60.0),
        ),
    ),
    (
        "start_armed",
        False,
        parameter_descriptor(
            "Activate (arm) at start-up; false waits, disarmed, for the operator's "
            "lifecycle activate."
        ),
    ),
    (
        "realtime_priority",
        DEFAULT_FIFO_PRIORITY,
        parameter_descriptor(
            "SCHED_FIFO priority of the control thread, as ros2_control asks for its "
            "update thread (nice -10 where refused; 0 asks for nothing).",
            ints=(0, 99),
        ),
    ),
    (
        "pin_to_control_cpu",
        True,
        parameter_descriptor(
            "Run the control thread on the last CPU, which the policy, simulator "
            "and recorder leave to it (with two or more CPUs)."
        ),
    ),
    (
        "command_interface",
        "forward_position",
        parameter_descriptor(
            "Command form: forward_position (Float64MultiArray every tick), "
            "joint_trajectory (timed JointTrajectory on chunk switch) or "
            "joint_state (JointState every tick)."
        ),
    ),
]
