"""Chunk-switching strategies compared by VLASH (Sec. 2 "Asynchronous VLA Inference", Fig. 3).

All four answer the same questions for the executor and the policy node, in control steps:

- when to start the next inference (:meth:`SwitchingStrategy.should_start_inference`);
- which step action 0 of the new chunk is meant for (:meth:`~SwitchingStrategy.planned_start_step`);
- where the executor actually places action 0 once the chunk arrives
  (:meth:`~SwitchingStrategy.effective_start_step`) and so how many late actions it drops
  (:meth:`~SwitchingStrategy.first_index`).

``sync``: the robot finishes the chunk, stops, and waits for the next one (Fig. 3a, stalls).
``naive_async`` (SmolVLA): infer while moving and switch on arrival, executing action 0 then; the
chunk was predicted for ``I_t^pred = [t, t+K)`` but runs over ``I_t^exec = [t+Δ, t+Δ+K)`` (Sec. 3),
the misalignment of Fig. 3b. ``vlash``: condition on the rolled-forward ``s_{t+Δ}`` (Sec. 4.1) so
the chunk is predicted for ``[t+Δ, ...)``, and place it step-exactly there (Fig. 3c). ``rtc``
(Real-Time Chunking): the chunk stays aligned with the observation step ``t``; its first ``Δ``
actions are the frozen, inpainted overlap with the previous chunk and are dropped on arrival.

If a chunk arrives before its effective start step (inference faster than the estimated ``Δ``)
the executor keeps running the current chunk until that step.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from vlash_core.validation import check_int


class SwitchingStrategy(abc.ABC):
    """How chunks are requested, aligned to control steps and switched in."""

    __slots__ = ()

    name: ClassVar[str]
    conditions_on_rolled_state: ClassVar[bool]
    """True if the policy is fed ``s_{t+Δ}`` from :func:`vlash_core.rollforward.roll_forward`."""
    uses_guidance: ClassVar[bool]
    """True if inference inpaints the overlap with the previous chunk (RTC guidance)."""
    stops_at_execution_horizon: ClassVar[bool] = False
    """True if the robot stops after K actions of a chunk and waits (``sync``, Fig. 3a)."""

    def should_start_inference(
        self,
        *,
        steps_left: int,
        delay_steps: int,
        margin_steps: int,
        inference_in_flight: bool,
        has_chunk: bool,
    ) -> bool:
        """Whether to take an observation and start inference at this step.

        ``steps_left`` = actions of the current chunk not yet executed within its execution
        horizon. Asynchronous strategies start when the remainder just covers the delay
        (``steps_left <= Δ + margin``) so the next chunk arrives as this one runs out.
        """
        steps_left = check_int("steps_left", steps_left, 0)
        delay_steps = check_int("delay_steps", delay_steps, 0)
        margin_steps = check_int("margin_steps", margin_steps, 0)
        if inference_in_flight:
            return False
        if not has_chunk:
            return True
        return self._due(steps_left=steps_left, delay_steps=delay_steps, margin=margin_steps)

    def _due(self, *, steps_left: int, delay_steps: int, margin: int) -> bool:
        return steps_left <= delay_steps + margin

    @abc.abstractmethod
    def planned_start_step(self, *, source_step: int, delay_steps: int) -> int:
        """Control step action 0 of a chunk conditioned at ``source_step`` is predicted for."""

    @abc.abstractmethod
    def effective_start_step(self, *, chunk_start_step: int, arrival_step: int) -> int:
        """Control step at which the executor places action 0 of a chunk arriving then."""

    def first_index(self, *, chunk_start_step: int, arrival_step: int) -> int:
        """Number of late actions dropped when the chunk is switched in at ``arrival_step``."""
        start = self.effective_start_step(
            chunk_start_step=chunk_start_step, arrival_step=arrival_step
        )
        return max(0, check_int("arrival_step", arrival_step) - start)

    def execution_step(self, *, index: int, chunk_start_step: int, arrival_step: int) -> int:
        """Control step at which action ``index`` of the chunk executes (if not dropped)."""
        index = check_int("index", index, 0)
        start = self.effective_start_step(
            chunk_start_step=chunk_start_step, arrival_step=arrival_step
        )
        return start + index

    def executable_actions(self, *, macro_count: int, execution_horizon: int) -> int:
        """How many of a chunk's ``macro_count`` actions the executor runs.

        ``execution_horizon`` is K (0 = the whole chunk). Only a stop-and-go strategy cuts the
        chunk at K; asynchronous ones run it to its end when the next chunk is late (VLASH
        Sec. 3: the next chunk is due after K, but the robot must not stall if it is not there).
        """
        macro_count = check_int("macro_count", macro_count, 0)
        execution_horizon = check_int("execution_horizon", execution_horizon, 0)
        if self.stops_at_execution_horizon and execution_horizon:
            return min(macro_count, execution_horizon)
        return macro_count

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _ObservationAligned(SwitchingStrategy):
    __slots__ = ()

    def planned_start_step(self, *, source_step: int, delay_steps: int) -> int:
        check_int("delay_steps", delay_steps, 0)
        return check_int("source_step", source_step)


class _StartsAtArrival(SwitchingStrategy):
    __slots__ = ()

    def effective_start_step(self, *, chunk_start_step: int, arrival_step: int) -> int:
        check_int("chunk_start_step", chunk_start_step)
        return check_int("arrival_step", arrival_step)


class _StepExact(SwitchingStrategy):
    __slots__ = ()

    def effective_start_step(self, *, chunk_start_step: int, arrival_step: int) -> int:
        check_int("arrival_step", arrival_step)
        return check_int("chunk_start_step", chunk_start_step)


class SyncStrategy(_ObservationAligned, _StartsAtArrival):
    """Stop-and-go: infer only once the chunk is exhausted (VLASH Fig. 3a)."""

    __slots__ = ()
    name = "sync"
    conditions_on_rolled_state = False
    uses_guidance = False
    stops_at_execution_horizon = True

    def _due(self, *, steps_left: int, delay_steps: int, margin: int) -> bool:
        return steps_left == 0


class NaiveAsyncStrategy(_ObservationAligned, _StartsAtArrival):
    """Switch to the new chunk on arrival, ignoring the elapsed ``Δ`` (VLASH Fig. 3b)."""

    __slots__ = ()
    name = "naive_async"
    conditions_on_rolled_state = False
    uses_guidance = False


class VlashStrategy(_StepExact):
    """Future-state-aware: predicted for ``[t+Δ, ...)`` from ``s_{t+Δ}`` (VLASH Sec. 4.1)."""

    __slots__ = ()
    name = "vlash"
    conditions_on_rolled_state = True
    uses_guidance = False

    def planned_start_step(self, *, source_step: int, delay_steps: int) -> int:
        return check_int("source_step", source_step) + check_int("delay_steps", delay_steps, 0)


class RtcStrategy(_ObservationAligned, _StepExact):
    """Real-Time Chunking: aligned with ``t``; the first ``Δ`` actions are the inpainted overlap."""

    __slots__ = ()
    name = "rtc"
    conditions_on_rolled_state = False
    uses_guidance = True


_STRATEGIES: dict[str, SwitchingStrategy] = {
    s.name: s for s in (SyncStrategy(), NaiveAsyncStrategy(), VlashStrategy(), RtcStrategy())
}
STRATEGY_NAMES: tuple[str, ...] = ("sync", "naive_async", "vlash", "rtc")


def get_strategy(name: str) -> SwitchingStrategy:
    """The strategy registered under ``name`` (one of :data:`STRATEGY_NAMES`)."""
    try:
        return _STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown switching strategy {name!r}; valid names: {', '.join(STRATEGY_NAMES)}"
        ) from None
