"""The policy node's parameters, each declared once: name, default, type, range, description.

``config/`` YAML and launch arguments only set values; ``ros2 param describe`` shows these.
"""

from vlash_core.node_runner import AVOID_CONTROL_CPU, parameter_descriptor
from vlash_core.so101 import SO101_JOINT_NAMES, TASK_INSTRUCTION
from vlash_core.strategies import STRATEGY_NAMES
from vlash_policy.lerobot_backend.checkpoint import DEFAULT_LEROBOT_CAMERAS
from vlash_policy.policy_backends import BACKENDS

PARAMETERS = [
    (
        "backend",
        "flowvla",
        parameter_descriptor(
            f"Model backend: {', '.join(BACKENDS)} (a checkpoint saved by LeRobot, run in "
            ".venv-lerobot)."
        ),
    ),
    (
        "model_path",
        "",
        parameter_descriptor("Checkpoint directory of the VLA; empty = the embedded sim default."),
    ),
    (
        "instruction",
        TASK_INSTRUCTION,
        parameter_descriptor("Language instruction for the VLA."),
    ),
    (
        "image_topics",
        ["camera/image_raw"],
        parameter_descriptor("Camera topics, in the model's camera order."),
    ),
    ("compressed_images", False, parameter_descriptor("Subscribe to sensor_msgs/CompressedImage.")),
    ("strategy", "vlash", parameter_descriptor(f"Chunk strategy: {', '.join(STRATEGY_NAMES)}.")),
    ("delay_mode", "measured", parameter_descriptor("Inference delay Δ: measured or fixed.")),
    ("fixed_delay_steps", 2, parameter_descriptor("Δ when delay_mode is fixed.", ints=(0, 1000))),
    (
        "delay_percentile",
        95.0,
        parameter_descriptor("Latency percentile that sets a measured Δ.", floats=(0.0, 100.0)),
    ),
    ("delay_margin_steps", 1, parameter_descriptor("Steps added to a measured Δ.", ints=(0, 1000))),
    (
        "trigger_margin_steps",
        1,
        parameter_descriptor("Start inferring when steps left reach Δ plus this.", ints=(0, 1000)),
    ),
    (
        "execution_horizon",
        0,
        parameter_descriptor(
            "K: actions executed per chunk before the next is due (0 = the whole chunk).",
            ints=(0, 10000),
        ),
    ),
    (
        "refine",
        True,
        parameter_descriptor("Run the confidence rater and AFM after SFM (AsyncVLA)."),
    ),
    (
        "refine_threshold",
        0.5,
        parameter_descriptor(
            "Rater confidence below which an action is regenerated.", floats=(0.01, 0.99)
        ),
    ),
    (
        "quantization",
        1,
        parameter_descriptor(
            "Action quantization q: micro-actions merged per step.", ints=(1, 100)
        ),
    ),
    ("device", "cpu", parameter_descriptor("Torch device of the model.")),
    (
        "lerobot_cameras",
        DEFAULT_LEROBOT_CAMERAS,
        parameter_descriptor(
            "lerobot backend: camera=feature_key pairs, comma-separated, one per image_topics "
            "entry in that order (the checkpoint's observation.images.* keys)."
        ),
    ),
    (
        "lerobot_joint_names",
        list(SO101_JOINT_NAMES),
        parameter_descriptor("lerobot backend: the joints of observation.state and action."),
    ),
    (
        "lerobot_python",
        "",
        parameter_descriptor(
            "lerobot backend: Python of the LeRobot environment (empty = .venv-lerobot of this "
            "checkout, or $VLASH_LEROBOT_PYTHON)."
        ),
    ),
    AVOID_CONTROL_CPU,
    (
        "torch_threads",
        0,
        parameter_descriptor(
            "Torch intra-op threads (0 = one per CPU this process may use).", ints=(0, 1024)
        ),
    ),
    ("seed", 0, parameter_descriptor("Seed of the flow-matching noise.", ints=(0, 2**31 - 1))),
    (
        "sync_tolerance_s",
        0.05,
        parameter_descriptor(
            "Largest stamp gap when pairing images and joint states.", floats=(0.0, 10.0)
        ),
    ),
    (
        "max_observation_age_s",
        1.0,
        parameter_descriptor(
            "Never infer from an observation older than this, measured against the executor's "
            "latest tick (a camera or joint states that stopped; 0 disables).",
            floats=(0.0, 60.0),
        ),
    ),
]
