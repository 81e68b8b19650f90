"""Action spaces of a chunking policy: absolute joint targets or per-step increments.

VLASH rolls the robot state forward as ``s_{t+Δ} = s_t + a_t + ... + a_{t+Δ-1}`` for delta actions
(VLASH Sec. 4.1, Fig. 3c) and merges micro-actions by summation (VLASH Sec. 4.4, Eq. (5)). For
absolute position targets the same ideas hold with "sum" replaced by "last target", so every
module that combines actions needs to know which of the two it is handling.
"""

from __future__ import annotations

import enum


class ActionSpace(enum.IntEnum):
    """How an action vector relates to the robot state it drives."""

    ABSOLUTE = 0
    """Each action is a joint position target; the state after it is the target itself."""
    DELTA = 1
    """Each action is an increment added to the current joint positions."""


def parse_action_space(value: str | int | ActionSpace) -> ActionSpace:
    """Convert a config/message value (name, integer code or member) to an :class:`ActionSpace`.

    Names are case-insensitive (``"delta"``, ``"ABSOLUTE"``); integers use the enum codes, which
    are the values carried in messages.
    """
    if isinstance(value, ActionSpace):
        return value
    valid = ", ".join(f"{m.name.lower()} ({m.value})" for m in ActionSpace)
    # bool is an int subclass; True/False would silently map to DELTA/ABSOLUTE.
    if isinstance(value, bool):
        raise TypeError(f"action_space must be a name or integer code, got bool {value!r}")
    if isinstance(value, int):
        try:
            return ActionSpace(value)
        except ValueError:
            raise ValueError(
                f"action_space code {value!r} is not valid; expected one of: {valid}"
            ) from None
    if isinstance(value, str):
        try:
            return ActionSpace[value.strip().upper()]
        except KeyError:
            raise ValueError(
                f"action_space name {value!r} is not valid; expected one of: {valid}"
            ) from None
    raise TypeError(
        f"action_space must be str, int or ActionSpace, got {type(value).__name__} {value!r}"
    )
