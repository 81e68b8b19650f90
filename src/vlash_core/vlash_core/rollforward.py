"""Future-state awareness: roll the measured robot state forward over the inference delay.

VLASH Sec. 4.1 (Fig. 3c): inference started at step ``t`` finishes ``Δ`` steps later, and in the
meantime the robot keeps executing the already-known actions ``a_t, ..., a_{t+Δ-1}`` of the
previous chunk. The state at which the new chunk starts executing is therefore computable,
``s_{t+Δ} = s_t + a_t + ... + a_{t+Δ-1}`` for delta actions, and the policy is conditioned on it
instead of the stale ``s_t``.

Step convention used throughout: the state measured at step ``t`` is taken BEFORE the action of
step ``t`` executes, so rolling from step ``t`` to step ``t+Δ`` applies the actions of steps
``[t, t+Δ)``.

Every action is applied through the executor's own pipeline (:mod:`vlash_core.safety_limits`:
delta -> absolute, position clamp, per-tick step clamp from the previous command; quantization
merges the actions into per-step macro-actions before), so with the executor's limits the rolled
state is exactly the position the executor commands at step ``t+Δ-1``. A delta is added to the
previous *command*, as the executor adds it, so ``s_{t+Δ} = s_t + a_t + ... + a_{t+Δ-1}`` holds
with ``s_t`` the commanded position (the measured one where nothing was commanded yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_core.safety_limits import SafetyLimits


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


def roll_forward(
    state: np.ndarray,
    actions: np.ndarray,
    *,
    action_space: ActionSpace | str | int,
    state_index_map: Sequence[int] | None = None,
    limits: SafetyLimits | None = None,
    previous_command: np.ndarray | None = None,
) -> np.ndarray:
    """Execution-time state ``s_{t+Δ}`` from ``s_t`` and the actions of steps ``[t, t+Δ)``.

    VLASH Sec. 4.1, Fig. 3c. ``state`` is ``(S,)``; ``actions`` is ``(n, D)`` per-step (macro-)
    actions in execution order. The driven entries ``m = state_index_map`` become the command the
    executor issues for the last action (:meth:`SafetyLimits.command` step after step, starting
    from ``previous_command``, by default the hold position seeded from ``state[m]``):

    - DELTA: ``s[m] + a_0 + ... + a_{n-1}``, each partial sum clamped as the executor clamps it
      (a delta pushing into a limit is not "remembered" by a following opposite delta);
    - ABSOLUTE: the last target ``a_{n-1}``, unless the step limit keeps the command short of it.

    ``limits`` None applies no limit. Undriven entries and the case ``n == 0`` (the robot holds)
    keep the measured values.
    """
    space = parse_action_space(action_space)
    s = _as_finite("state", state, 1)
    acts = _as_finite("actions", actions, 2)
    out = s.copy()
    if acts.shape[0] == 0:
        return out
    action_dim = acts.shape[1]
    idx = resolve_state_index_map(state_index_map, state_dim=s.shape[0], action_dim=action_dim)
    if limits is None:
        limits = SafetyLimits.create(action_dim)
    elif limits.joint_count != action_dim:
        raise ValueError(
            f"limits cover {limits.joint_count} joints but the actions have {action_dim} dimensions"
        )
    if previous_command is None:
        previous = limits.hold_position(s[idx])
    else:
        previous = _as_finite("previous_command", previous_command, 1)
        if previous.shape != (action_dim,):
            raise ValueError(
                f"previous_command must have shape ({action_dim},), got {previous.shape}"
            )
    out[idx] = limits.commands(previous, acts, space)[-1]
    return out


@dataclass(frozen=True)
class ExecutedAction:
    """An action the executor reports as executed at some step (the step is the mapping key)."""

    chunk_id: int
    index: int
    """Index of the action within its chunk (macro-action index if the chunk was quantized)."""
    command: np.ndarray
    """The joint positions the executor commanded for it (after every limit)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", _as_finite("ExecutedAction.command", self.command, 1))
        if self.index < 0:
            raise ValueError(f"ExecutedAction.index must be >= 0, got {self.index}")


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk the executor runs or will run: action ``i`` is due at step ``start_step + i``.

    ``actions`` are the per-step actions the executor applies: the macro-actions when the chunk
    was quantized (:mod:`vlash_core.quantization`), only the executable ones (a ``sync`` chunk
    stops after K, :meth:`~vlash_core.strategies.SwitchingStrategy.executable_actions`).
    """

    chunk_id: int
    start_step: int
    actions: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", _as_finite("PlannedChunk.actions", self.actions, 2))


def plan_at(plans: Sequence[PlannedChunk], step: int) -> tuple[PlannedChunk, int] | None:
    """The plan and action index the executor runs at ``step``, or None where it holds.

    ``plans`` are in the order the executor accepted them. As in the executor, the newest chunk
    whose start step has come is the one that runs (a fresher chunk supersedes every plan from its
    own start on, and a chunk that waits for its start leaves the previous one running until
    then); past its last action the robot holds, it does not fall back to an older chunk.
    """
    for plan in reversed(plans):
        if plan.start_step <= step:
            index = step - plan.start_step
            return (plan, index) if index < plan.actions.shape[0] else None
    return None


@dataclass(frozen=True)
class Rollout:
    """The executor's commands over the steps between a measured state and the target step."""

    steps: np.ndarray
    """(n,) control step of each command; steps where the robot holds are absent."""
    commands: np.ndarray
    """(n, D) joint positions commanded at those steps: reported, or predicted for plans."""
    executed: np.ndarray
    """(n,) True = reported executed by the executor, False = planned, not executed yet."""
    chunk_ids: np.ndarray
    """(n,) chunk each action came from."""
    indices: np.ndarray
    """(n,) index of each action within its chunk."""

    def __len__(self) -> int:
        return int(self.steps.shape[0])


def roll_out(
    *,
    first_step: int,
    end_step: int,
    reported_step: int | None,
    executed: Mapping[int, ExecutedAction],
    plans: Sequence[PlannedChunk],
    command_in_force: np.ndarray,
    action_space: ActionSpace | str | int,
    limits: SafetyLimits,
) -> Rollout:
    """The executor's commands of steps ``[first_step, end_step)`` (VLASH Sec. 4.1).

    The state measured at ``first_step = t`` precedes that step's action, so the rollout to
    ``end_step = t + Δ`` covers ``a_t, ..., a_{t+Δ-1}``; its last command is ``s_{t+Δ}``.

    - Up to ``reported_step`` (the latest step the executor reported) the executor's reports are
      the truth: a reported step contributes the command it sent, an unreported one held.
    - After it, the plan running at each step (:func:`plan_at`) is executed through the safety
      pipeline from the command in force, ``command_in_force`` (the executor's latest reported
      command, or the hold position it seeds from the measured joints when it reported none).
      A step with no plan holds: ABSOLUTE repeats the last command, DELTA adds nothing.
    """
    if end_step < first_step:
        raise ValueError(f"end_step ({end_step}) must be >= first_step ({first_step})")
    space = parse_action_space(action_space)
    previous = _as_finite("command_in_force", command_in_force, 1)
    if previous.shape != (limits.joint_count,):
        raise ValueError(
            f"command_in_force must have shape ({limits.joint_count},), got {previous.shape}"
        )
    steps: list[int] = []
    rows: list[np.ndarray] = []
    flags: list[bool] = []
    chunk_ids: list[int] = []
    indices: list[int] = []
    for step in range(first_step, end_step):
        if reported_step is not None and step <= reported_step:
            reported = executed.get(step)
            if reported is None:
                continue
            if reported.command.shape != previous.shape:
                raise ValueError(
                    f"step {step}: reported command has shape {reported.command.shape}, "
                    f"expected {previous.shape}"
                )
            rows.append(reported.command)
            flags.append(True)
            chunk_ids.append(reported.chunk_id)
            indices.append(reported.index)
        else:
            running = plan_at(plans, step)
            if running is None:
                continue
            plan, index = running
            previous, _ = limits.command(plan.actions[index], previous, space)
            rows.append(previous)
            flags.append(False)
            chunk_ids.append(plan.chunk_id)
            indices.append(index)
        steps.append(step)
    return Rollout(
        steps=np.asarray(steps, dtype=np.int64),
        commands=np.stack(rows) if rows else np.zeros((0, limits.joint_count)),
        executed=np.asarray(flags, dtype=bool),
        chunk_ids=np.asarray(chunk_ids, dtype=np.int64),
        indices=np.asarray(indices, dtype=np.int64),
    )
