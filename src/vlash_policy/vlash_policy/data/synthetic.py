"""Deterministic toy reaching episodes for tests and development before the simulator exists.

Each episode shows two coloured dots (red, blue) on a small black image; the instruction names one
of them. The state is ``num_joints`` joint positions in ``[-1, 1]``; the first two are the
end-effector image coordinates (drawn as a grey dot) and the rest follow a fixed function of the
goal. Each action moves the joints a fixed fraction of the way to the goal, so the correct action
depends on the image, the instruction AND the current state: exactly the dependence offset
augmentation (VLASH Sec. 4.2) forces a policy to learn.
"""

from __future__ import annotations

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_core.validation import check_int
from vlash_policy.data.episode import Episode

COLOURS: dict[str, tuple[int, int, int]] = {"red": (255, 0, 0), "blue": (0, 0, 255)}
_GAIN = 0.25  # fraction of the remaining distance covered per step


def _pixel(coord: np.ndarray, size: int) -> tuple[int, int]:
    """Joint coordinates in [-1, 1] -> (row, col) pixel."""
    rc = np.rint((np.clip(coord, -1.0, 1.0) + 1.0) * 0.5 * (size - 1)).astype(int)
    return int(rc[0]), int(rc[1])


def _draw(image: np.ndarray, rc: tuple[int, int], colour: tuple[int, int, int]) -> None:
    image[max(rc[0] - 1, 0) : rc[0] + 2, max(rc[1] - 1, 0) : rc[1] + 2] = colour


def synthetic_episode(
    index: int,
    *,
    seed: int = 0,
    length: int = 16,
    image_size: int = 16,
    num_joints: int = 2,
    action_space: ActionSpace | str | int = ActionSpace.ABSOLUTE,
    fps: float = 10.0,
) -> Episode:
    """Episode ``index`` of the stream defined by ``seed`` (same arguments -> same arrays)."""
    for name, value, minimum in (
        ("index", index, 0),
        ("length", length, 1),
        ("image_size", image_size, 4),
        ("num_joints", num_joints, 2),
    ):
        check_int(name, value, minimum)
    space = parse_action_space(action_space)
    rng = np.random.default_rng([seed, index])
    dots = {name: rng.uniform(-0.8, 0.8, size=2) for name in COLOURS}
    target_name = ("red", "blue")[int(rng.integers(2))]
    goal = np.empty(num_joints)
    goal[:2] = dots[target_name]
    # Extra joints have no pixel of their own; tie them to the goal so they are still predictable.
    goal[2:] = 0.5 * np.sin(np.arange(2, num_joints) * goal[0] + goal[1])
    state = rng.uniform(-0.9, 0.9, size=num_joints)

    states = np.empty((length, num_joints), np.float32)
    actions = np.empty((length, num_joints), np.float32)
    frames = np.zeros((length, image_size, image_size, 3), np.uint8)
    for t in range(length):
        states[t] = state
        step = _GAIN * (goal - state)
        next_state = state + step
        actions[t] = next_state if space is ActionSpace.ABSOLUTE else step
        for name, colour in COLOURS.items():
            _draw(frames[t], _pixel(dots[name], image_size), colour)
        _draw(frames[t], _pixel(state[:2], image_size), (128, 128, 128))
        state = next_state
    return Episode(
        images={"front": frames},
        states=states,
        actions=actions,
        instruction=f"reach the {target_name} dot",
        fps=fps,
        action_space=space,
        joint_names=tuple(f"joint_{i}" for i in range(num_joints)),
    )


def synthetic_episodes(count: int, *, seed: int = 0, **kwargs: object) -> list[Episode]:
    """``count`` episodes ``synthetic_episode(i, seed=seed, **kwargs)`` for ``i < count``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, got {count!r}")
    return [synthetic_episode(i, seed=seed, **kwargs) for i in range(count)]  # type: ignore[arg-type]
