"""One sample of every vlash_msgs interface with every field set to a non-default value.

Shared by the publisher process (scripts/publish_samples.py) and the subscribing test, so both
sides build the identical message.
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from std_msgs.msg import Header

from vlash_msgs.msg import (
    ActionChunk,
    ExecutedActions,
    InferenceTiming,
    RolledState,
    TaskEvent,
)

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
# Beyond 2**32 and negative, so 64-bit fields that were truncated or unsigned would show.
BIG = 2**40 + 3


def _header(frame: str) -> Header:
    return Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id=frame)


def _timing() -> InferenceTiming:
    return InferenceTiming(total=0.1875, prefix_encoding=0.05, sfm=0.07, rater=0.01, afm=0.0575)


def samples() -> dict[str, Any]:
    """Message type name -> sample message."""
    horizon, dim = 3, len(JOINTS)
    chunk = ActionChunk(
        header=_header("base_link"),
        chunk_id=BIG,
        start_step=BIG + 4,
        source_step=BIG + 1,
        delay_steps=3,
        control_period=1 / 30,
        joint_names=JOINTS,
        action_space=ActionChunk.DELTA,
        horizon=horizon,
        action_dim=dim,
        quantization=2,
        execution_horizon=4,
        # Multiples of 1/64 are exact in float32, so equality after the round trip is exact.
        actions=[(i - 7) / 64 for i in range(horizon * dim)],
        confidence=[0.75, 0.5, 0.25],
        refined=[False, True, True],
        strategy="vlash",
        inference_time=_timing(),
    )
    rolled = RolledState(
        header=_header("base_link"),
        measured_step=-BIG,
        target_step=-BIG + 2,
        joint_names=JOINTS,
        measured_positions=[0.1 * i for i in range(dim)],
        rolled_positions=[0.1 * i + 0.01 for i in range(dim)],
        action_steps=[-BIG, -BIG + 1],
        action_chunk_ids=[BIG, BIG],
        action_indices=[4, 5],
        action_executed=[True, False],
    )
    executed = ExecutedActions(
        header=_header("base_link"),
        step=BIG + 9,
        chunk_ids=[BIG, BIG + 1],
        indices=[7, 0],
        steps=[BIG + 7, BIG + 8],
        commanded_positions=[0.001 * i for i in range(2 * dim)],
        command_in_force=[0.001 * i + 0.5 for i in range(dim)],
        joint_names=JOINTS,
        holding=True,
        dropped_actions=11,
        running_chunk_id=BIG + 1,
        steps_left=17,
        tick_lateness=0.0004,
        control_period=1 / 30,
        position_lower=[-1.5 + 0.125 * i for i in range(dim)],
        position_upper=[1.25 + 0.25 * i for i in range(dim)],
        max_step_per_tick=[0.01 * (i + 1) for i in range(dim)],
    )
    event = TaskEvent(
        header=_header("world"),
        kind=TaskEvent.KIND_HIT,
        target_id=42,
        step=BIG + 5,
        position=Point(x=0.25, y=-0.125, z=0.3),
    )
    return {
        "InferenceTiming": _timing(),
        "ActionChunk": chunk,
        "RolledState": rolled,
        "ExecutedActions": executed,
        "TaskEvent": event,
    }


def leaf_fields(msg: Any, path: str) -> list[tuple[str, Any]]:
    """(dotted path, value) of every non-message field of ``msg``, nested messages expanded."""
    leaves = []
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            leaves += leaf_fields(value, f"{path}.{name}")
        elif isinstance(value, str | bytes | bool | int | float):
            leaves.append((f"{path}.{name}", value))
        else:  # sequences come back as array.array, numpy arrays or lists
            leaves.append((f"{path}.{name}", list(value)))
    return leaves
