"""Future-state awareness: roll the measured robot state forward over the inference delay.

VLASH Sec. 4.1 (Fig. 3c): inference started at step ``t`` finishes ``Δ`` steps later, and in the
meantime the robot keeps executing the already-known actions ``a_t, ..., a_{t+Δ-1}`` of the
previous chunk. The state at which the new chunk starts executing is therefore computable,
``s_{t+Δ} = s_t + a_t + ... + a_{t+Δ-1}`` for delta actions, and the policy is conditioned on it
instead of the stale ``s_t``.

Step convention used throughout: the state measured at step ``t`` is taken BEFORE the action of
step ``t`` executes, so rolling from step ``t`` to step ``t+Δ`` applies the actions of steps
``[t, t+Δ)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vlash_policy.action_space import ActionSpace, parse_action_space


def _as_finite(name: str, value: object, ndim: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got non-finite entries in shape {arr.shape}")
    return arr


def resolve_state_index_map(
    state_index_map: Sequence[int] | None, *, state_dim: int, action_dim: int
) -> np.ndarray:
    """Validated integer array ``m`` with ``m[j]`` = state entry driven by action dimension ``j``.

    ``None`` means identity, which requires ``state_dim == action_dim``. A state longer than the
    action (gripper, velocities, ...) is allowed with an explicit map; unmapped entries are not
    driven by the actions.
    """
    if state_index_map is None:
        if state_dim != action_dim:
            raise ValueError(
                f"state_index_map is required when the state dimension ({state_dim}) differs "
                f"from the action dimension ({action_dim})"
            )
        return np.arange(action_dim)
    idx = np.asarray(state_index_map)
    if idx.ndim != 1 or idx.shape[0] != action_dim:
        raise ValueError(
            f"state_index_map must have one entry per action dimension ({action_dim}), "
            f"got shape {idx.shape}"
        )
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"state_index_map must contain integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= state_dim):
        raise ValueError(f"state_index_map entries must be in [0, {state_dim}), got {idx.tolist()}")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"state_index_map entries must be unique, got {idx.tolist()}")
    return idx.astype(np.intp)


def _resolve_limits(name: str, value: object, action_dim: int, fill: float) -> np.ndarray:
    if value is None:
        return np.full(action_dim, fill)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(action_dim, float(arr))
    if arr.shape != (action_dim,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({action_dim},), got shape {arr.shape}"
        )
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN, got {arr.tolist()}")
    return arr


def roll_forward(
    state: np.ndarray,
    actions: np.ndarray,
    *,
    action_space: ActionSpace | str | int,
    state_index_map: Sequence[int] | None = None,
    lower: np.ndarray | float | None = None,
    upper: np.ndarray | float | None = None,
) -> np.ndarray:
    """Execution-time state ``s_{t+Δ}`` from ``s_t`` and the actions of steps ``[t, t+Δ)``.

    VLASH Sec. 4.1, Fig. 3c. ``state`` is ``(S,)``; ``actions`` is ``(n, D)`` in execution order.

    - DELTA: ``s[m] + a_0 + ... + a_{n-1}`` on the driven entries ``m = state_index_map``.
    - ABSOLUTE: the driven entries become the last target ``a_{n-1}``.

    With ``lower``/``upper`` (per action dimension, or scalars), the driven entries are clamped
    to the joint limits after every step, as the robot would saturate each commanded target;
    a delta pushing into a limit is therefore not "remembered" by a following opposite delta.
    Undriven entries and the case ``n == 0`` (the robot holds) keep the measured values.
    """
    space = parse_action_space(action_space)
    s = _as_finite("state", state, 1)
    acts = _as_finite("actions", actions, 2)
    out = s.copy()
    if acts.shape[0] == 0:
        return out
    action_dim = acts.shape[1]
    idx = resolve_state_index_map(state_index_map, state_dim=s.shape[0], action_dim=action_dim)
    lo = _resolve_limits("lower", lower, action_dim, -np.inf)
    hi = _resolve_limits("upper", upper, action_dim, np.inf)
    if np.any(lo > hi):
        raise ValueError(f"lower must be <= upper, got lower={lo.tolist()} upper={hi.tolist()}")
    if space is ActionSpace.ABSOLUTE:
        out[idx] = np.clip(acts[-1], lo, hi)
        return out
    driven = out[idx]
    for a in acts:
        driven = np.clip(driven + a, lo, hi)
    out[idx] = driven
    return out


@dataclass(frozen=True)
class ExecutedAction:
    """An action the executor reports as executed at some step (the step is the mapping key)."""

    chunk_id: int
    index: int
    """Index of the action within its chunk (macro-action index if the chunk was quantized)."""
    action: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _as_finite("ExecutedAction.action", self.action, 1))
        if self.index < 0:
            raise ValueError(f"ExecutedAction.index must be >= 0, got {self.index}")


@dataclass(frozen=True)
class PlannedChunk:
    """The chunk the executor is running: action ``i`` is due at step ``start_step + i``.

    ``actions`` are the per-step actions the executor applies, i.e. the macro-actions when the
    chunk was quantized (:mod:`vlash_policy.quantization`).
    """

    chunk_id: int
    start_step: int
    actions: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", _as_finite("PlannedChunk.actions", self.actions, 2))


@dataclass(frozen=True)
class RolloutActions:
    """Actions of the steps between a measured state and the target step, in step order."""

    actions: np.ndarray
    """(n, D) actions to pass to :func:`roll_forward`."""
    steps: np.ndarray
    """(n,) control step of each action; steps with no action (robot holding) are absent."""
    executed: np.ndarray
    """(n,) True = reported executed by the executor, False = planned remainder of the chunk."""
    chunk_ids: np.ndarray
    """(n,) chunk each action came from."""
    indices: np.ndarray
    """(n,) index of each action within its chunk."""

    def __len__(self) -> int:
        return int(self.steps.shape[0])


def gather_rollout_actions(
    *,
    measured_step: int,
    target_step: int,
    executed: Mapping[int, ExecutedAction],
    planned: PlannedChunk | None,
    action_dim: int | None = None,
) -> RolloutActions:
    """Collect the actions of steps ``[measured_step, target_step)`` for :func:`roll_forward`.

    The state measured at ``measured_step`` precedes that step's action, so the rollout to
    ``target_step = t + Δ`` (VLASH Sec. 4.1) needs ``a_t, ..., a_{t+Δ-1}``. For each step the
    action the executor reported as executed wins (it is what really happened, even if a later
    chunk replaced the plan); otherwise the planned chunk's action ``step - start_step`` is used
    when it lies inside the chunk. A step with neither (chunk exhausted, no chunk yet) is skipped:
    the executor holds there, which repeats the last ABSOLUTE target and is a zero DELTA, so
    skipping is exact for both action spaces.

    ``action_dim`` fixes ``D`` when no action is found (otherwise the result is ``(0, 0)``).
    """
    if target_step < measured_step:
        raise ValueError(f"target_step ({target_step}) must be >= measured_step ({measured_step})")
    rows: list[np.ndarray] = []
    steps: list[int] = []
    flags: list[bool] = []
    chunk_ids: list[int] = []
    indices: list[int] = []
    for step in range(measured_step, target_step):
        reported = executed.get(step)
        if reported is not None:
            rows.append(reported.action)
            flags.append(True)
            chunk_ids.append(reported.chunk_id)
            indices.append(reported.index)
        elif planned is not None and 0 <= step - planned.start_step < planned.actions.shape[0]:
            i = step - planned.start_step
            rows.append(planned.actions[i])
            flags.append(False)
            chunk_ids.append(planned.chunk_id)
            indices.append(i)
        else:
            continue
        steps.append(step)
    dims = {r.shape[0] for r in rows}
    if planned is not None:
        dims.add(planned.actions.shape[1])
    if action_dim is not None:
        dims.add(action_dim)
    if len(dims) > 1:
        raise ValueError(f"executed and planned actions disagree on the action dimension: {dims}")
    dim = dims.pop() if dims else 0
    return RolloutActions(
        actions=np.stack(rows) if rows else np.zeros((0, dim)),
        steps=np.asarray(steps, dtype=np.int64),
        executed=np.asarray(flags, dtype=bool),
        chunk_ids=np.asarray(chunk_ids, dtype=np.int64),
        indices=np.asarray(indices, dtype=np.int64),
    )
