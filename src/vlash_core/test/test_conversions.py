"""Tests of vlash_core.conversions on SimpleNamespace stand-ins and on the real messages."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_core.conversions import (
    chunk_actions_array,
    chunk_confidence_array,
    chunk_refined_array,
    executed_actions_arrays,
    executor_command_in_force,
    executor_limits,
    executor_report,
    fill_chunk_actions,
    fill_executed_actions,
    fill_executor_limits,
    joint_positions,
)
from vlash_core.executor_report import ExecutorReport
from vlash_core.safety_limits import SafetyLimits

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def empty_chunk() -> SimpleNamespace:
    return SimpleNamespace(
        horizon=0, action_dim=0, actions=[], confidence=[], refined=[], joint_names=[]
    )


def empty_executed() -> SimpleNamespace:
    return SimpleNamespace(
        chunk_ids=[], indices=[], steps=[], commanded_positions=[], joint_names=[]
    )


def real_or_namespace(kind: str) -> list:
    """Both stand-ins: the SimpleNamespace and, when vlash_msgs is built, the real class."""
    makers = [empty_chunk if kind == "chunk" else empty_executed]
    try:
        from vlash_msgs.msg import ActionChunk, ExecutedActions
    except ImportError:  # plain PYTHONPATH run without the built interfaces
        return makers
    return [*makers, ActionChunk if kind == "chunk" else ExecutedActions]


@pytest.mark.parametrize("make", real_or_namespace("chunk"))
def test_chunk_round_trip_is_row_major(make):
    msg = make()
    actions = np.arange(12, dtype=np.float32).reshape(3, 4) / 8  # exact in float32
    fill_chunk_actions(msg, actions, confidence=[0.5, 0.25, 1.0], refined=[False, True, False])
    assert (msg.horizon, msg.action_dim) == (3, 4)
    # Row-major: action 1, dimension 2 sits at 1*4 + 2.
    assert msg.actions[6] == actions[1, 2]
    np.testing.assert_array_equal(chunk_actions_array(msg), actions)
    np.testing.assert_array_equal(chunk_confidence_array(msg), [0.5, 0.25, 1.0])
    np.testing.assert_array_equal(chunk_refined_array(msg), [False, True, False])


@pytest.mark.parametrize("make", real_or_namespace("chunk"))
def test_optional_fields_are_emptied_and_read_as_none(make):
    msg = make()
    fill_chunk_actions(msg, np.ones((2, 1)), confidence=[0.1, 0.2], refined=[True, True])
    fill_chunk_actions(msg, np.ones((2, 1)))
    assert chunk_confidence_array(msg) is None
    assert chunk_refined_array(msg) is None


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda h: st.integers(1, 7).flatmap(
            lambda d: st.lists(st.floats(-1e3, 1e3, width=32), min_size=h * d, max_size=h * d).map(
                lambda v: np.array(v, dtype=np.float32).reshape(h, d)
            )
        )
    )
)
def test_fill_then_read_is_identity(actions):
    msg = empty_chunk()
    fill_chunk_actions(msg, actions)
    np.testing.assert_array_equal(chunk_actions_array(msg), actions)


def test_wrong_flat_length_names_the_field_and_product():
    msg = SimpleNamespace(horizon=2, action_dim=7, actions=[0.0] * 13, joint_names=[])
    with pytest.raises(
        ValueError, match=r"ActionChunk.actions has 13 values but horizon\*action_dim = 2\*7 = 14"
    ):
        chunk_actions_array(msg)


@pytest.mark.parametrize("bad, kind", [(math.nan, "NaN"), (math.inf, "infinite")])
def test_non_finite_action_names_its_index(bad, kind):
    values = [0.0] * 8
    values[5] = bad
    msg = SimpleNamespace(horizon=4, action_dim=2, actions=values, joint_names=[])
    with pytest.raises(ValueError, match=rf"ActionChunk.actions\[5\] is {kind}"):
        chunk_actions_array(msg)
    with pytest.raises(ValueError, match=rf"ActionChunk.actions\[5\] is {kind}"):
        fill_chunk_actions(empty_chunk(), np.array(values).reshape(4, 2))


@pytest.mark.parametrize("field", ["horizon", "action_dim"])
def test_zero_dims_are_rejected(field):
    msg = SimpleNamespace(horizon=3, action_dim=2, actions=[], joint_names=[])
    setattr(msg, field, 0)
    with pytest.raises(ValueError, match=rf"ActionChunk.{field} must be > 0, got 0"):
        chunk_actions_array(msg)
    with pytest.raises(ValueError, match=r"must be > 0, got 0"):
        fill_chunk_actions(empty_chunk(), np.zeros((0, 2) if field == "horizon" else (3, 0)))


def test_fill_rejects_non_matrix_and_wrong_optional_lengths():
    with pytest.raises(ValueError, match=r"shape \(horizon, action_dim\), got \(6,\)"):
        fill_chunk_actions(empty_chunk(), np.zeros(6))
    with pytest.raises(
        ValueError, match=r"ActionChunk.confidence must have shape \(3,\), got \(2,\)"
    ):
        fill_chunk_actions(empty_chunk(), np.zeros((3, 2)), confidence=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"ActionChunk.refined must have shape \(3,\), got \(4,\)"):
        fill_chunk_actions(empty_chunk(), np.zeros((3, 2)), refined=[True] * 4)


def test_reading_wrong_optional_lengths_names_the_field():
    msg = SimpleNamespace(horizon=3, action_dim=1, actions=[0.0] * 3, confidence=[0.5], refined=[])
    with pytest.raises(
        ValueError, match=r"ActionChunk.confidence has 1 values, expected 0 or horizon = 3"
    ):
        chunk_confidence_array(msg)
    msg.refined = [True, False]
    with pytest.raises(
        ValueError, match=r"ActionChunk.refined has 2 values, expected 0 or horizon = 3"
    ):
        chunk_refined_array(msg)


def test_joint_names_must_match_action_dim_and_be_unique():
    msg = SimpleNamespace(horizon=1, action_dim=2, actions=[0.0, 0.0], joint_names=["a"])
    with pytest.raises(ValueError, match=r"ActionChunk.joint_names has 1 names but action_dim = 2"):
        chunk_actions_array(msg)
    msg.joint_names = ["a", "a"]
    with pytest.raises(ValueError, match=r"ActionChunk.joint_names\[1\] repeats joint name 'a'"):
        chunk_actions_array(msg)


@pytest.mark.parametrize("make", real_or_namespace("executed"))
def test_executor_report_round_trip(make):
    msg = make()
    commanded = np.arange(3 * len(JOINTS), dtype=np.float64).reshape(3, len(JOINTS)) * 0.1
    sent = ExecutorReport(
        step=102,
        steps=[100, 101, 102],
        chunk_ids=[7, 7, 8],
        indices=[4, 5, 0],
        commands=commanded,
        holding=False,
        steps_left=9,
        running_chunk_id=8,
        command_in_force=commanded[-1],
    )
    fill_executed_actions(msg, sent, JOINTS)
    out = executed_actions_arrays(msg)
    np.testing.assert_array_equal(out.chunk_ids, [7, 7, 8])
    np.testing.assert_array_equal(out.indices, [4, 5, 0])
    np.testing.assert_array_equal(out.steps, [100, 101, 102])
    np.testing.assert_array_equal(out.commanded, commanded)
    # Row i of the flat field belongs to step i.
    assert list(msg.commanded_positions[len(JOINTS) : 2 * len(JOINTS)]) == list(commanded[1])
    received = executor_report(msg)
    assert (received.step, received.holding, received.steps_left) == (102, False, 9)
    assert received.running_chunk_id == 8
    assert list(received.steps) == [100, 101, 102] and list(received.chunk_ids) == [7, 7, 8]
    np.testing.assert_array_equal(received.commands, commanded)
    np.testing.assert_array_equal(received.command_in_force, commanded[-1])


@pytest.mark.parametrize("make", real_or_namespace("executed"))
def test_executor_report_of_a_holding_executor_without_a_chunk(make):
    msg = make()
    held = ExecutorReport(
        step=3,
        steps=[],
        chunk_ids=[],
        indices=[],
        commands=np.empty((0, len(JOINTS))),
        holding=True,
        steps_left=0,
    )
    fill_executed_actions(msg, held, JOINTS)
    assert msg.running_chunk_id == -1 and list(msg.command_in_force) == []
    received = executor_report(msg)
    assert received.running_chunk_id is None and received.command_in_force is None
    assert received.holding and received.commands.shape == (0, len(JOINTS))


def test_executed_actions_length_mismatches_name_the_field():
    msg = SimpleNamespace(
        chunk_ids=[1, 1],
        indices=[0],
        steps=[5, 6],
        commanded_positions=[0.0] * 4,
        joint_names=["a", "b"],
    )
    with pytest.raises(ValueError, match=r"ExecutedActions.indices has 1 entries but steps has 2"):
        executed_actions_arrays(msg)
    msg.indices = [0, 1]
    msg.commanded_positions = [0.0] * 3
    with pytest.raises(
        ValueError,
        match=r"commanded_positions has 3 values but len\(steps\)\*len\(joint_names\) = 2\*2 = 4",
    ):
        executed_actions_arrays(msg)
    msg.commanded_positions = [0.0, 0.0, math.nan, 0.0]
    with pytest.raises(ValueError, match=r"ExecutedActions.commanded_positions\[2\] is NaN"):
        executed_actions_arrays(msg)
    with pytest.raises(
        ValueError, match=r"ExecutedActions.commanded_positions must have shape \(2, 2\)"
    ):
        fill_executed_actions(
            empty_executed(),
            ExecutorReport(
                step=6,
                steps=[5, 6],
                chunk_ids=[1, 1],
                indices=[0, 1],
                commands=np.zeros((2, 3)),
                holding=False,
                steps_left=0,
            ),
            ["a", "b"],
        )


@pytest.mark.parametrize("make", real_or_namespace("executed"))
def test_executor_limits_round_trip(make):
    msg = make()
    msg.joint_names = JOINTS
    limits = SafetyLimits.create(
        len(JOINTS),
        lower=[-1.5, -1.25, -1.0, -0.75, -0.5, -0.25],
        upper=[0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
        max_step_per_tick=[0.1, 0.2, 0.05, 0.025, 0.3, 0.125],
    )
    fill_executor_limits(msg, limits)
    out = executor_limits(msg)
    for name in ("lower", "upper", "max_step"):
        np.testing.assert_array_equal(getattr(out, name), getattr(limits, name))


def test_executor_limits_name_the_missing_or_bad_field():
    msg = SimpleNamespace(joint_names=["a", "b"])
    with pytest.raises(
        ValueError, match=r"ExecutedActions.position_lower has 0 values, expected one per joint"
    ):
        executor_limits(msg)
    msg.position_lower, msg.position_upper = [-1.0, -1.0], [1.0, 1.0]
    msg.max_step_per_tick = [0.1]
    with pytest.raises(ValueError, match=r"ExecutedActions.max_step_per_tick has 1 values"):
        executor_limits(msg)
    msg.max_step_per_tick = [0.1, 0.0]
    with pytest.raises(ValueError, match=r"ExecutedActions limits: max_step_per_tick must be > 0"):
        executor_limits(msg)
    msg.max_step_per_tick, msg.position_upper = [0.1, 0.1], [1.0, -2.0]
    with pytest.raises(ValueError, match=r"ExecutedActions limits: joint limit lower > upper"):
        executor_limits(msg)


@pytest.mark.parametrize("make", real_or_namespace("executed"))
def test_executor_command_in_force_is_none_before_the_executor_holds_anything(make):
    msg = make()
    msg.joint_names = ["a", "b"]
    msg.command_in_force = []
    assert executor_command_in_force(msg) is None
    msg.command_in_force = [0.25, -1.5]
    np.testing.assert_array_equal(executor_command_in_force(msg), [0.25, -1.5])


@pytest.mark.parametrize(
    ("held", "match"),
    [
        (None, "ExecutedActions has no command_in_force field"),
        ([0.1], r"ExecutedActions.command_in_force has 1 values, expected one per joint \(2\)"),
        ([0.1, math.nan], r"ExecutedActions.command_in_force\[1\] is NaN"),
    ],
)
def test_executor_command_in_force_names_the_missing_or_bad_field(held, match):
    msg = SimpleNamespace(joint_names=["a", "b"])
    if held is not None:
        msg.command_in_force = held
    with pytest.raises(ValueError, match=match):
        executor_command_in_force(msg)


@pytest.mark.parametrize(
    ("names", "positions", "kind", "match"),
    [
        (["a", "b"], [0.1], "length", "JointState has 1 positions for 2 names"),
        (["a", "c"], [0.1, 0.2], "missing_joints", r"JointState lacks joints \['b'\]"),
        (["a", "b"], [0.1, math.nan], "non_finite", r"JointState.position\[1\] is NaN"),
        (["a", "b"], [math.inf, 0.0], "non_finite", r"JointState.position\[0\] is infinite"),
        (["a", "a", "b"], [0.0, 0.0, 0.0], "joint_names", "repeats joint name 'a'"),
        ([], [], "missing_joints", "lacks joints"),
    ],
)
def test_joint_positions_refuse_broken_joint_states_by_kind(names, positions, kind, match):
    with pytest.raises(ValueError, match=match) as info:
        joint_positions(names, positions, ["a", "b"])
    assert info.value.kind == kind


def test_joint_positions_pick_the_joints_in_order_and_ignore_others():
    picked = joint_positions(["x", "b", "a"], [math.nan, 2.0, 1.0], ["a", "b"])
    assert picked.tolist() == [1.0, 2.0]  # the NaN of a joint not asked for does not matter
