"""NumPy views of vlash_msgs messages, with checks that name the offending field.

The messages carry arrays flat with their dimensions (``ActionChunk.actions`` is row-major
``horizon x action_dim``), which was about 10x cheaper to build and serialize than
``trajectory_msgs/JointTrajectory`` for 50x7 chunks. These helpers are the one place that turns
them into shaped arrays and back. They import no ROS: they work on any object with the message's
attributes (the generated message class, or ``types.SimpleNamespace`` in tests).

A chunk ``A_t = [a_t, ..., a_{t+H-1}]`` (VLASH Sec. 3) is one row per action; the confidence and
refined flags are one value per action (AsyncVLA Sec. 3: rater scores and AFM refinement).
``ExecutedActions`` also carries the executor's safety limits, so the policy's roll-forward
replays the executor's own (:func:`executor_limits`), never a copy configured on the policy.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vlash_core.executor_report import ExecutorReport
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.safety_limits import SafetyLimits


def _positive_dim(field: str, value: Any, kind: str = "shape") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{field} must be an integer, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise RefusedInputError(kind, f"{field} must be > 0, got {value}")
    return int(value)


def _check_finite(field: str, values: NDArray[np.floating]) -> None:
    bad = np.flatnonzero(~np.isfinite(values.ravel()))
    if bad.size:
        first = int(bad[0])
        kind = "NaN" if np.isnan(values.ravel()[first]) else "infinite"
        raise RefusedInputError("non_finite", f"{field}[{first}] is {kind}")


def _flat(field: str, values: Any, dtype: type) -> NDArray[Any]:
    arr: NDArray[Any] = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{field} must be a flat sequence, got shape {arr.shape}")
    return arr


def _float32_field(values: NDArray[np.floating]) -> array.array:
    # array('f') is what generated float32[] fields hold; building it from bytes avoids a
    # per-element Python loop and keeps SimpleNamespace stand-ins identical to real messages.
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


def _shaped(field: str, values: ArrayLike, shape: tuple[int, ...], dtype: type) -> NDArray[Any]:
    arr: NDArray[Any] = np.asarray(values, dtype=dtype)
    if arr.shape != shape:
        raise ValueError(f"{field} must have shape {shape}, got {arr.shape}")
    return arr


def _check_unique_names(field: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise RefusedInputError("joint_names", f"{field}[{i}] is empty")
        if name in seen:
            raise RefusedInputError("joint_names", f"{field}[{i}] repeats joint name {name!r}")
        seen.add(name)


def joint_positions(
    names: Sequence[str], positions: Sequence[float], joints: Sequence[str]
) -> NDArray[np.float64]:
    """The positions of ``joints`` (in that order) from a ``sensor_msgs/JointState``'s fields.

    Other joints may be present. Raises :class:`RefusedInputError` (kind ``length``,
    ``joint_names``, ``missing_joints`` or ``non_finite``) for a message that cannot be trusted.
    """
    names, values = list(names), np.asarray(positions, dtype=np.float64).reshape(-1)
    if values.size != len(names):
        raise RefusedInputError(
            "length", f"JointState has {values.size} positions for {len(names)} names"
        )
    _check_unique_names("JointState.name", names)
    index = {name: i for i, name in enumerate(names)}
    missing = [n for n in joints if n not in index]
    if missing:
        raise RefusedInputError("missing_joints", f"JointState lacks joints {missing}")
    picked = values[[index[n] for n in joints]]
    _check_finite("JointState.position", picked)
    return picked


def chunk_actions_array(msg: Any) -> NDArray[np.float32]:
    """``ActionChunk.actions`` as a ``(horizon, action_dim)`` float32 array (a copy).

    Checks the dimensions, the flat length, finiteness and, when given, that ``joint_names`` has
    one unique name per action dimension.
    """
    horizon = _positive_dim("ActionChunk.horizon", msg.horizon, "empty")
    action_dim = _positive_dim("ActionChunk.action_dim", msg.action_dim)
    flat = _flat("ActionChunk.actions", msg.actions, np.float32)
    if flat.size != horizon * action_dim:
        raise RefusedInputError(
            "shape",
            f"ActionChunk.actions has {flat.size} values but horizon*action_dim = "
            f"{horizon}*{action_dim} = {horizon * action_dim}",
        )
    _check_finite("ActionChunk.actions", flat)
    names = list(msg.joint_names)
    if names:
        if len(names) != action_dim:
            raise RefusedInputError(
                "joint_names",
                f"ActionChunk.joint_names has {len(names)} names but action_dim = {action_dim}",
            )
        _check_unique_names("ActionChunk.joint_names", names)
    return flat.reshape(horizon, action_dim).copy()


def chunk_confidence_array(msg: Any) -> NDArray[np.float32] | None:
    """``ActionChunk.confidence`` as a ``(horizon,)`` float32 array, or None when empty."""
    horizon = _positive_dim("ActionChunk.horizon", msg.horizon)
    values = _flat("ActionChunk.confidence", msg.confidence, np.float32)
    if values.size == 0:
        return None
    if values.size != horizon:
        raise ValueError(
            f"ActionChunk.confidence has {values.size} values, expected 0 or horizon = {horizon}"
        )
    _check_finite("ActionChunk.confidence", values)
    return values.copy()


def chunk_refined_array(msg: Any) -> NDArray[np.bool_] | None:
    """``ActionChunk.refined`` as a ``(horizon,)`` bool array, or None when empty."""
    horizon = _positive_dim("ActionChunk.horizon", msg.horizon)
    values = list(msg.refined)
    if not values:
        return None
    if len(values) != horizon:
        raise ValueError(
            f"ActionChunk.refined has {len(values)} values, expected 0 or horizon = {horizon}"
        )
    return np.array(values, dtype=bool)


def fill_chunk_actions(
    msg: Any,
    actions: ArrayLike,
    *,
    confidence: ArrayLike | None = None,
    refined: ArrayLike | None = None,
) -> None:
    """Write a ``(H, D)`` action array (and optional per-action confidence/refined) into ``msg``.

    Sets ``horizon``, ``action_dim``, ``actions`` and, when given, ``confidence`` and ``refined``
    (otherwise they are emptied). Non-finite values are rejected before anything is published.
    """
    arr = np.asarray(actions, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(
            f"ActionChunk actions must have shape (horizon, action_dim), got {arr.shape}"
        )
    horizon = _positive_dim("ActionChunk.horizon", arr.shape[0])
    action_dim = _positive_dim("ActionChunk.action_dim", arr.shape[1])
    _check_finite("ActionChunk.actions", arr)
    conf = None
    if confidence is not None:
        conf = _shaped("ActionChunk.confidence", confidence, (horizon,), np.float32)
        _check_finite("ActionChunk.confidence", conf)
    flags = None if refined is None else _shaped("ActionChunk.refined", refined, (horizon,), bool)

    msg.horizon = horizon
    msg.action_dim = action_dim
    msg.actions = _float32_field(arr)
    msg.confidence = _float32_field(conf) if conf is not None else array.array("f")
    msg.refined = [bool(f) for f in flags] if flags is not None else []


@dataclass(frozen=True)
class ExecutedArrays:
    """``ExecutedActions`` feedback as arrays: entry ``i`` is chunk ``chunk_ids[i]``'s action
    ``indices[i]``, executed at control step ``steps[i]`` with joint command ``commanded[i]``."""

    chunk_ids: NDArray[np.uint64]
    indices: NDArray[np.uint32]
    steps: NDArray[np.int64]
    commanded: NDArray[np.float64]


def executed_actions_arrays(msg: Any) -> ExecutedArrays:
    """Arrays of an ``ExecutedActions`` message; ``commanded`` is ``(N, len(joint_names))``."""
    chunk_ids = _flat("ExecutedActions.chunk_ids", msg.chunk_ids, np.uint64)
    indices = _flat("ExecutedActions.indices", msg.indices, np.uint32)
    steps = _flat("ExecutedActions.steps", msg.steps, np.int64)
    count = steps.size
    for field, arr in (("chunk_ids", chunk_ids), ("indices", indices)):
        if arr.size != count:
            raise ValueError(
                f"ExecutedActions.{field} has {arr.size} entries but steps has {count}"
            )
    names = list(msg.joint_names)
    _check_unique_names("ExecutedActions.joint_names", names)
    commanded = _flat("ExecutedActions.commanded_positions", msg.commanded_positions, np.float64)
    if commanded.size != count * len(names):
        raise ValueError(
            f"ExecutedActions.commanded_positions has {commanded.size} values but "
            f"len(steps)*len(joint_names) = {count}*{len(names)} = {count * len(names)}"
        )
    _check_finite("ExecutedActions.commanded_positions", commanded)
    return ExecutedArrays(
        chunk_ids.copy(), indices.copy(), steps.copy(), commanded.reshape(count, len(names))
    )


def fill_executed_actions(msg: Any, report: ExecutorReport, joint_names: Sequence[str]) -> None:
    """Write an executor report into an ``ExecutedActions`` (all but header, limits and timing).

    ``report.commands`` has one row of ``len(joint_names)`` positions per executed step.
    """
    names = list(joint_names)
    _check_unique_names("ExecutedActions.joint_names", names)
    step_arr = _flat("ExecutedActions.steps", report.steps, np.int64)
    count = step_arr.size
    ids = _shaped("ExecutedActions.chunk_ids", report.chunk_ids, (count,), np.uint64)
    idx = _shaped("ExecutedActions.indices", report.indices, (count,), np.uint32)
    cmd = _shaped(
        "ExecutedActions.commanded_positions", report.commands, (count, len(names)), np.float64
    )
    _check_finite("ExecutedActions.commanded_positions", cmd)
    msg.step = report.step
    msg.joint_names = names
    msg.steps = step_arr.tolist()
    msg.chunk_ids = ids.tolist()
    msg.indices = idx.tolist()
    msg.commanded_positions = cmd.ravel().tolist()
    held = report.command_in_force
    msg.command_in_force = [] if held is None else [float(x) for x in held]
    msg.holding = report.holding
    msg.steps_left = report.steps_left
    msg.running_chunk_id = -1 if report.running_chunk_id is None else report.running_chunk_id


def executor_report(msg: Any) -> ExecutorReport:
    """The :class:`ExecutorReport` an ``ExecutedActions`` carries (limits and timing aside).

    Raises ``ValueError`` naming the field that is malformed.
    """
    arrays = executed_actions_arrays(msg)
    return ExecutorReport(
        step=int(msg.step),
        steps=arrays.steps.tolist(),
        chunk_ids=arrays.chunk_ids.tolist(),
        indices=arrays.indices.tolist(),
        commands=arrays.commanded,
        holding=bool(msg.holding),
        steps_left=int(msg.steps_left),
        running_chunk_id=None if msg.running_chunk_id < 0 else int(msg.running_chunk_id),
        command_in_force=executor_command_in_force(msg),
    )


def executor_command_in_force(msg: Any) -> NDArray[np.float64] | None:
    """The command an ``ExecutedActions`` says the executor holds after its step.

    None while the executor has no command (no joint state yet). Raises ``ValueError`` when the
    field is absent (an executor that predates it), has the wrong length or is not finite.
    """
    if not hasattr(msg, "command_in_force"):
        raise ValueError(
            "ExecutedActions has no command_in_force field: the executor must report the "
            "command it holds"
        )
    held = _flat("ExecutedActions.command_in_force", msg.command_in_force, np.float64)
    if held.size == 0:
        return None
    joints = len(msg.joint_names)
    if held.size != joints:
        raise ValueError(
            f"ExecutedActions.command_in_force has {held.size} values, expected one per joint "
            f"({joints})"
        )
    _check_finite("ExecutedActions.command_in_force", held)
    return held.copy()


_LIMIT_FIELDS = ("position_lower", "position_upper", "max_step_per_tick")


def fill_executor_limits(msg: Any, limits: SafetyLimits) -> None:
    """Write the executor's position and per-tick step limits into an ``ExecutedActions``."""
    msg.position_lower = limits.lower.tolist()
    msg.position_upper = limits.upper.tolist()
    msg.max_step_per_tick = limits.max_step.tolist()


def executor_limits(msg: Any) -> SafetyLimits:
    """The safety limits an ``ExecutedActions`` carries, one entry per ``joint_names`` entry.

    Raises ``ValueError`` naming the field that is missing (an executor that does not send its
    limits), has the wrong length or holds values :class:`SafetyLimits` refuses.
    """
    joints = len(msg.joint_names)
    values = {}
    for field in _LIMIT_FIELDS:
        arr = _flat(f"ExecutedActions.{field}", getattr(msg, field, ()), np.float64)
        if arr.size != joints:
            raise ValueError(
                f"ExecutedActions.{field} has {arr.size} values, expected one per joint "
                f"({joints}): the executor must send its limits"
            )
        values[field] = arr
    try:
        return SafetyLimits(
            lower=values["position_lower"],
            upper=values["position_upper"],
            max_step=values["max_step_per_tick"],
        )
    except ValueError as error:
        raise ValueError(f"ExecutedActions limits: {error}") from None
