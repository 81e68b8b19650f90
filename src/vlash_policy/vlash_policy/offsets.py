"""Temporal-offset augmentation for fine-tuning (VLASH Sec. 4.2).

For a trajectory ``{(o_t, s_t, a_t)}`` standard fine-tuning learns ``a_{t:t+H-1}`` from
``(o_t, s_t)``. VLASH instead samples ``δ ∈ {0, ..., Δmax}`` and trains on ``(o_t, s_{t+δ})`` ->
``a_{(t+δ):(t+δ+H-1)}``: state and action chunk are shifted together while the observation stays
``o_t`` (steps (i) and (ii) of Sec. 4.2). The same image then maps to different targets depending
on the state, which forces the model to use the (rolled-forward) state it receives at deployment.

This module builds the state/target part of one such sample with numpy; the observation is
untouched, and shared-observation packing of all offsets (Sec. 4.3) uses :func:`all_offsets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_core.rollforward import roll_forward
from vlash_core.validation import check_int


def sample_offsets(max_offset: int, count: int, *, rng: np.random.Generator) -> np.ndarray:
    """``count`` offsets ``δ ~ U{0, ..., Δmax}`` (VLASH Sec. 4.2 (i)); int64 array ``(count,)``."""
    max_offset = check_int("max_offset", max_offset, 0)
    count = check_int("count", count, 0)
    return rng.integers(0, max_offset + 1, size=count, dtype=np.int64)


def all_offsets(max_offset: int) -> np.ndarray:
    """Every offset ``0, ..., Δmax``: the branches packed after one shared ``o_t`` (Sec. 4.3)."""
    max_offset = check_int("max_offset", max_offset, 0)
    return np.arange(max_offset + 1, dtype=np.int64)


@dataclass
class OffsetSample:
    """State and target chunk of one offset branch ``(s_{t+δ}, A_{t+δ})``."""

    offset: int
    state: np.ndarray
    """(S,) state ``s_{t+δ}`` the model is conditioned on."""
    actions: np.ndarray
    """(H, D) target ``a_{t+δ}, ..., a_{t+δ+H-1}``, padded past the end of the episode."""
    valid: np.ndarray
    """(H,) bool; False for padding, which the loss excludes from its sum and its normaliser."""


def _as_float(name: str, value: object, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def _check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")


def offset_sample(
    *,
    states: np.ndarray | None,
    actions: np.ndarray,
    t: int,
    offset: int,
    horizon: int,
    action_space: ActionSpace | str | int,
    state_index_map: Sequence[int] | None = None,
    initial_state: np.ndarray | None = None,
) -> OffsetSample:
    """Build ``(s_{t+δ}, a_{(t+δ):(t+δ+H-1)})`` for one episode (VLASH Sec. 4.2).

    ``actions`` is the episode's ``(T, D)`` action sequence, ``t`` in ``[0, T)`` the observation
    step, ``offset`` = δ. The state is

    - ``states[t+δ]`` from the recorded ``(T, S)`` states (the last one when ``t+δ >= T``: the
      robot stays where the episode ended);
    - without recorded states (ABSOLUTE only): the target reached by the previous action,
      ``actions[t+δ-1]`` written into ``initial_state`` through ``state_index_map``, or
      ``initial_state`` itself at ``t+δ == 0``. DELTA actions cannot recover absolute positions,
      so DELTA requires recorded states.

    Target steps past the episode end are padded with what the executor does once a plan runs
    out, holding: the last ABSOLUTE target repeated, or a zero DELTA, and marked ``valid=False``.
    """
    space = parse_action_space(action_space)
    acts = _as_float("actions", actions, 2)
    n_steps = acts.shape[0]
    if n_steps == 0:
        raise ValueError("actions must contain at least one step, got shape (0, D)")
    t = check_int("t", t, 0)
    if t >= n_steps:
        raise ValueError(f"t must be < the episode length {n_steps}, got {t}")
    offset = check_int("offset", offset, 0)
    horizon = check_int("horizon", horizon, 1)
    k = t + offset

    if states is not None:
        recorded = _as_float("states", states, 2)
        if recorded.shape[0] != n_steps:
            raise ValueError(
                f"states must have one row per action step ({n_steps}), got {recorded.shape[0]}"
            )
        state = recorded[min(k, n_steps - 1)].copy()
        _check_finite("states", state)
    elif space is ActionSpace.DELTA:
        raise ValueError(
            "states are required for DELTA actions: increments do not determine the state"
        )
    else:
        if initial_state is None:
            raise ValueError("initial_state is required for ABSOLUTE actions without states")
        previous = acts[min(k, n_steps) - 1 : min(k, n_steps)] if k > 0 else acts[:0]
        state = roll_forward(
            initial_state, previous, action_space=space, state_index_map=state_index_map
        ).astype(acts.dtype)

    n_valid = max(0, min(horizon, n_steps - k))
    target = np.empty((horizon, acts.shape[1]), dtype=acts.dtype)
    target[:n_valid] = acts[k : k + n_valid]
    target[n_valid:] = acts[-1] if space is ActionSpace.ABSOLUTE else 0.0
    _check_finite("actions", target)
    valid = np.zeros(horizon, dtype=bool)
    valid[:n_valid] = True
    return OffsetSample(offset=offset, state=state, actions=target, valid=valid)
