"""What the executor reports after each control step: the one record both sides read.

The executor builds it from its tick (:meth:`vlash_executor.chunk_executor.ChunkExecutor.report`),
the executor node sends it as ``vlash_msgs/ExecutedActions``
(:func:`vlash_core.conversions.fill_executed_actions`) and the policy decodes it back
(:func:`vlash_core.conversions.executor_report`); the simulated loop hands it over directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExecutorReport:
    """One executor feedback: the actions it commanded and what it holds after ``step``."""

    step: int
    """The latest step the executor commanded."""
    steps: Sequence[int]
    chunk_ids: Sequence[int]
    indices: Sequence[int]
    """Index of the last micro-action merged into each command."""
    commands: np.ndarray
    """(n, D) commanded joint positions, one row per entry of ``steps``."""
    holding: bool
    steps_left: int
    """Executable macro-actions of the running chunk not yet commanded."""
    running_chunk_id: int | None = None
    """Chunk the executor runs after this step (None: none)."""
    command_in_force: np.ndarray | None = None
    """(D,) the command the executor holds after ``step``, its seed from the arm included (None:
    it has none yet)."""

    def __post_init__(self) -> None:
        count = len(self.steps)
        if not len(self.chunk_ids) == len(self.indices) == count:
            raise ValueError(
                f"report of step {self.step}: {count} steps, {len(self.chunk_ids)} chunk ids and "
                f"{len(self.indices)} indices must be as many"
            )
        if np.shape(self.commands)[:1] != (count,):
            raise ValueError(
                f"report of step {self.step}: commands have shape {np.shape(self.commands)}, "
                f"expected one row per step ({count})"
            )
