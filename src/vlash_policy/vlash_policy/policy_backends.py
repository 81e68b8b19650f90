"""The models the policy node can run, each behind one ``ChunkPolicy``.

- ``flowvla``: this project's flow-matching VLA (``policy_interface.FlowVLAPolicy``), which
  names its joints and cameras in its own ``config.json``;
- ``lerobot``: a checkpoint saved by LeRobot (SmolVLA, ...), run by a worker in
  ``.venv-lerobot`` (``lerobot_backend.client.LeRobotPolicy``); its joints come from the node,
  its cameras from a ``camera=feature_key`` mapping, and it acts in absolute joint positions.

Either way the VLASH machinery stays the node's: the rolled-forward state replaces the model's
state input, and the chunk gets the node's step bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_policy.lerobot_backend.checkpoint import parse_camera_keys
from vlash_policy.policy_interface import ChunkPolicy

BACKENDS = ("flowvla", "lerobot")


@dataclass(frozen=True)
class LoadedPolicy:
    """A model ready to infer, with what the node needs to know about it."""

    policy: ChunkPolicy
    joint_names: tuple[str, ...]
    """The joints its actions command, in action order."""
    camera_names: tuple[str, ...]
    """Its cameras, in the order the node's ``image_topics`` feed them."""
    action_space: ActionSpace
    horizon: int


def load_policy(
    backend: str,
    model_path: str | Path,
    *,
    device: str,
    seed: int,
    refine: bool,
    refine_threshold: float,
    torch_threads: int,
    lerobot_joint_names: Sequence[str],
    lerobot_cameras: str,
    lerobot_python: str = "",
) -> LoadedPolicy:
    """Load ``model_path`` with ``backend`` (``refine*`` for flowvla, ``lerobot_*`` for LeRobot)."""
    if backend == "flowvla":
        from vlash_policy.policy_interface import FlowVLAPolicy

        policy = FlowVLAPolicy(
            model_path, device=device, refine=refine, threshold=refine_threshold, seed=seed
        )
        config = policy.config
        return LoadedPolicy(
            policy,
            tuple(config.joint_names),
            tuple(config.camera_names),
            parse_action_space(config.action_space),
            config.horizon,
        )
    if backend == "lerobot":
        from vlash_policy.lerobot_backend.client import LeRobotPolicy

        cameras = parse_camera_keys(lerobot_cameras)
        lerobot = LeRobotPolicy(
            model_path,
            python=lerobot_python or None,
            camera_keys=cameras,
            seed=seed,
            device=device,
            torch_threads=torch_threads,
        )
        if lerobot.action_dim != len(lerobot_joint_names):
            lerobot.close()
            raise ValueError(
                f"the LeRobot checkpoint {model_path} acts on {lerobot.action_dim} joints but "
                f"lerobot_joint_names lists {len(lerobot_joint_names)}: {list(lerobot_joint_names)}"
            )
        return LoadedPolicy(
            lerobot,
            tuple(lerobot_joint_names),
            tuple(cameras),
            ActionSpace.ABSOLUTE,
            lerobot.horizon,
        )
    raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
