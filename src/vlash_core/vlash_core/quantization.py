"""Action quantization: merge ``q`` fine-grained micro-actions into one macro-action.

VLASH Sec. 4.4, Eq. (5): for delta actions ``â_i = Σ_{j=0}^{q-1} a_{iq+j}``, which moves the robot
from the start of ``a_{iq}`` to the end of ``a_{(i+1)q-1}`` in ONE control step. For absolute
joint targets the equivalent macro-action is the block's last waypoint. Fewer, larger steps trade
temporal granularity for execution speed.

Step bookkeeping for the executor: a chunk of ``H`` micro-actions becomes ``M = ceil(H/q)``
macro-actions; macro-action ``j`` executes at control step ``start_step + j`` and stands for the
micro-actions ``source_indices[j]``. After executing macro-action ``j`` the robot is where it would
be after micro-action :meth:`QuantizedChunk.micro_index_at` ``(j)``, so that is the micro index to
report as executed. The trailing block may be shorter than ``q`` and is merged the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space


@dataclass(frozen=True)
class QuantizedChunk:
    """Macro-actions of one chunk and the micro-actions each of them merges."""

    actions: np.ndarray
    """(M, D) macro-actions; macro-action ``j`` occupies control step ``start_step + j``."""
    source_indices: tuple[range, ...]
    """``source_indices[j]`` = micro-action indices merged into macro-action ``j``."""
    q: int

    def __len__(self) -> int:
        return len(self.source_indices)

    def micro_index_at(self, j: int) -> int:
        """Last micro-action index merged into macro-action ``j`` (what executing ``j`` reaches)."""
        if not 0 <= j < len(self.source_indices):
            raise IndexError(f"macro index j={j} out of range [0, {len(self.source_indices)})")
        return self.source_indices[j][-1]


def quantize_actions(
    actions: np.ndarray, q: int, action_space: ActionSpace | str | int
) -> QuantizedChunk:
    """Quantize an ``(H, D)`` chunk with factor ``q`` (VLASH Sec. 4.4, Eq. (5)).

    DELTA: each macro-action is the sum of its block; ABSOLUTE: the block's last target.
    ``q == 1`` returns a copy of the micro-actions.
    """
    space = parse_action_space(action_space)
    if isinstance(q, bool) or not isinstance(q, int | np.integer):
        raise TypeError(f"q must be an integer quantization factor, got {type(q).__name__}")
    if q < 1:
        raise ValueError(f"q must be >= 1, got {q}")
    q = int(q)
    acts = np.asarray(actions)
    if not np.issubdtype(acts.dtype, np.floating):
        acts = acts.astype(np.float64)
    if acts.ndim != 2 or acts.shape[0] == 0:
        raise ValueError(f"actions must have shape (H, D) with H >= 1, got {acts.shape}")
    if not np.all(np.isfinite(acts)):
        raise ValueError("actions contains non-finite values")
    horizon = acts.shape[0]
    starts = np.arange(0, horizon, q)
    source = tuple(range(s, min(s + q, horizon)) for s in starts.tolist())
    if space is ActionSpace.DELTA:
        merged = np.add.reduceat(acts, starts, axis=0)
    else:
        merged = acts[[r[-1] for r in source]].copy()
    return QuantizedChunk(actions=merged, source_indices=source, q=q)
