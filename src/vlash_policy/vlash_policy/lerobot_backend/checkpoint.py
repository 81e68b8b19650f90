"""What a LeRobot checkpoint directory declares, read from its ``config.json`` (no LeRobot).

Light enough for the launcher to refuse a checkpoint that cannot run before any node starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The policy node's lerobot_cameras default: its one camera as LeRobot's usual key.
DEFAULT_LEROBOT_CAMERAS = "front=observation.images.front"


def _config(checkpoint_dir: str | Path) -> dict[str, Any]:
    path = Path(checkpoint_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{Path(checkpoint_dir)} has no config.json: not a LeRobot checkpoint"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ValueError(f"{path} names no policy type: not a LeRobot checkpoint")
    return config


def checkpoint_image_features(checkpoint_dir: str | Path) -> dict[str, tuple[int, ...]]:
    """The image keys of a LeRobot checkpoint -> (C, H, W), e.g. to build ``camera_keys``."""
    return {
        key: tuple(feature["shape"])
        for key, feature in _config(checkpoint_dir).get("input_features", {}).items()
        if feature.get("type") == "VISUAL"
    }


def parse_camera_keys(text: str) -> dict[str, str]:
    """``"front=observation.images.front,wrist=observation.images.wrist"`` as a dict.

    Raises ``ValueError`` naming the malformed entry or the camera named twice.
    """
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        camera, sep, key = entry.partition("=")
        if not sep or not camera.strip() or not key.strip():
            raise ValueError(
                f"lerobot_cameras entry {entry!r} is not camera=feature_key "
                "(e.g. front=observation.images.front)"
            )
        if camera.strip() in mapping:
            raise ValueError(f"lerobot_cameras names camera {camera.strip()!r} twice")
        mapping[camera.strip()] = key.strip()
    return mapping


def check_camera_keys(camera_keys: Mapping[str, str], image_features: Mapping[str, Any]) -> None:
    """Refuse a camera -> image key mapping that does not cover the image features exactly."""
    features = set(image_features)
    mapped = list(camera_keys.values())
    unknown = sorted(set(mapped) - features)
    not_mapped = sorted(features - set(mapped))
    doubled = sorted({key for key in mapped if mapped.count(key) > 1})
    if unknown or not_mapped or doubled:
        raise ValueError(
            f"camera_keys {dict(camera_keys)} do not match the checkpoint's image features "
            f"{sorted(features)}: unknown keys {unknown}, image features not mapped "
            f"{not_mapped}, keys mapped twice {doubled}"
        )


def preflight_lerobot_checkpoint(
    checkpoint_dir: str | Path, *, camera_keys: Mapping[str, str], joint_count: int
) -> str:
    """The policy type of ``checkpoint_dir`` after checking cameras and action size.

    Raises ``FileNotFoundError`` or ``ValueError`` saying what does not fit.
    """
    config = _config(checkpoint_dir)
    check_camera_keys(camera_keys, checkpoint_image_features(checkpoint_dir))
    action = config.get("output_features", {}).get("action", {}).get("shape")
    if action != [joint_count]:
        raise ValueError(
            f"the LeRobot checkpoint {checkpoint_dir} acts with shape {action}, but the "
            f"executor commands {joint_count} joints"
        )
    return str(config["type"])
