"""The policy side of asynchronous inference as one object, without ROS or threads of its own.

Executor reports go in; out come the moments to infer, each with its step-exact request
(VLASH Sec. 4.1: the state rolled forward over the Δ steps that execute meanwhile), and, once
the model has answered, the chunk to send with its step bookkeeping. The policy node drives it
from its callbacks and inference thread, the simulated loop from simulated time, so the
sequence report -> trigger -> plan -> started -> predict -> published exists once:

    loop.on_report(report, stamp_s=..., control_period_s=..., limits=...)
    if loop.wants_inference() and not loop.has_chunk_from(source_step):
        ticket = loop.start(source_step, measured_state)
        ...  # the model infers from ticket.request.conditioning_state
        chunk = loop.deliver(ticket, actions, latency_s, send=publish)

``latency_s`` is counted from the tick of the source step (``ticket.source_tick_s``): the chunk
must reach the executor before the tick of step ``source_step + Δ``, ``Δ`` periods later, so
that is the time Δ has to cover; the observation itself is up to a period older.

Every report belongs to one executor clock. When the step counter goes back (the executor
restarted) everything known is in steps of the old clock: the loop starts a new planner, and a
chunk still being inferred on the old clock is dropped at :meth:`InferenceLoop.deliver`.
The methods may be called from several threads; each runs under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace
from vlash_core.executor_report import ExecutorReport
from vlash_core.safety_limits import SafetyLimits
from vlash_core.strategies import SwitchingStrategy
from vlash_policy.inference_planner import InferencePlanner, InferenceRequest
from vlash_policy.timeline import DelayEstimator


@dataclass(frozen=True)
class LoopSettings:
    """How the policy infers: its strategy, its chunks and how Δ is set. Checks itself."""

    strategy: SwitchingStrategy
    action_space: ActionSpace
    joint_count: int
    horizon: int
    """H: actions per chunk the model produces."""
    quantization: int = 1
    """q: micro-actions the executor merges per control step (VLASH Sec. 4.4)."""
    execution_horizon: int | None = None
    """K: actions executed per chunk before the next is due (None: the whole chunk)."""
    trigger_margin_steps: int = 0
    fixed_delay_steps: int = 0
    """Δ when ``measure_delay`` is False; the Δ assumed before the first measurement otherwise."""
    measure_delay: bool = True
    delay_percentile: float = 95.0
    delay_margin_steps: int = 1

    def __post_init__(self) -> None:
        for name, low in (("joint_count", 1), ("horizon", 1), ("trigger_margin_steps", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name}={getattr(self, name)} must be >= {low}")
        k = self.execution_horizon
        for name, value, low in (
            ("fixed_delay_steps", self.fixed_delay_steps, 0),
            ("execution_horizon", self.horizon if k is None else k, 1),
            ("quantization", self.quantization, 1),
        ):
            if not low <= value <= self.horizon:
                raise ValueError(
                    f"{name}={value} must be in [{low}, {self.horizon}]: the checkpoint's chunks "
                    f"have horizon {self.horizon}"
                )


@dataclass(frozen=True)
class Ticket:
    """An inference the loop started: what to infer, on which executor clock."""

    request: InferenceRequest
    epoch: int
    source_tick_s: float | None
    """Stamp of the source step's tick, where Δ counts from (None: that tick was not reported)."""

    def latency_origin_s(self, observation_stamp_s: float) -> float:
        """Where this inference's latency sample for Δ counts from.

        The source step's tick; without its report, the observation's stamp, which precedes
        that tick, so Δ errs long rather than short.
        """
        return observation_stamp_s if self.source_tick_s is None else self.source_tick_s


@dataclass(frozen=True)
class OutgoingChunk:
    """A chunk to send to the executor, as it will receive it."""

    chunk_id: int
    request: InferenceRequest
    actions: np.ndarray
    """(H, D) float32: the precision of ``ActionChunk.actions``, so the roll-forward plans with
    exactly what the executor will command."""


@dataclass(frozen=True)
class ReportOutcome:
    """What a report changed beyond the step bookkeeping."""

    restarted_from_step: int | None = None
    """The old clock's latest step when this report started a new one (executor restart)."""
    limits_changed: bool = False


class InferenceLoop:
    """Asynchronous-inference bookkeeping across executor clocks (see the module docstring)."""

    def __init__(self, settings: LoopSettings) -> None:
        self.settings = settings
        self._planner: InferencePlanner | None = None
        self._epoch = 0
        self._next_chunk_id = 1
        # Source step of the newest chunk sent on the current clock.
        self._newest_source: int | None = None
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int:
        """Executor clocks seen so far (a restarted executor counts anew)."""
        return self._epoch

    @property
    def latest_step(self) -> int | None:
        return None if self._planner is None else self._planner.latest_step

    @property
    def latest_stamp(self) -> float | None:
        """Stamp of the executor's latest tick (None before the first report)."""
        return None if self._planner is None else self._planner.clock.latest_stamp

    @property
    def limits(self) -> SafetyLimits | None:
        """The executor limits the roll-forward applies (None before the first report)."""
        return None if self._planner is None else self._planner.limits

    def on_report(
        self,
        report: ExecutorReport,
        *,
        stamp_s: float,
        control_period_s: float,
        limits: SafetyLimits,
    ) -> ReportOutcome:
        """Absorb one executor report with the limits and step period it was sent with."""
        with self._lock:
            previous = self._planner
            restarted = (
                previous is not None
                and previous.latest_step is not None
                and report.step < previous.latest_step
            )
            changed = previous is None or not _same_limits(previous.limits, limits)
            planner = previous
            if planner is None or restarted:
                planner = self._new_planner(control_period_s)
                self._planner, self._epoch = planner, self._epoch + 1
                self._newest_source = None
            if changed or planner is not previous:
                planner.limits = limits
            planner.on_feedback(report, stamp_s)
            restarted_from = previous.latest_step if restarted and previous is not None else None
            return ReportOutcome(restarted_from, changed)

    def _new_planner(self, control_period_s: float) -> InferencePlanner:
        s = self.settings
        delay = DelayEstimator(
            control_period_s=control_period_s,
            max_steps=s.horizon,
            percentile=s.delay_percentile,
            margin_steps=s.delay_margin_steps,
            fixed_delay=None if s.measure_delay else s.fixed_delay_steps,
            initial_delay=s.fixed_delay_steps,
        )
        return InferencePlanner(
            strategy=s.strategy,
            delay=delay,
            action_space=s.action_space,
            joint_count=s.joint_count,
            margin_steps=s.trigger_margin_steps,
            execution_horizon=s.execution_horizon,
            quantization=s.quantization,
        )

    def wants_inference(self) -> bool:
        """True when the strategy says the next inference is due now."""
        with self._lock:
            return self._planner is not None and self._planner.should_start_inference()

    def source_step(self, stamp_s: float) -> int | None:
        """The executor step an observation stamped ``stamp_s`` precedes (None: not known yet)."""
        with self._lock:
            return None if self._planner is None else self._planner.clock.source_step(stamp_s)

    def has_chunk_from(self, source_step: int) -> bool:
        """True when a chunk from ``source_step`` or a later one was sent on this clock.

        Inferring again from that observation would give the same chunk again: the roll-forward
        covers the same steps, and the chunk just sent starts after them. The next inference
        waits for a newer observation instead (the camera is slower than the model here).
        """
        with self._lock:
            return self._newest_source is not None and source_step <= self._newest_source

    def start(self, source_step: int, measured_state: np.ndarray) -> Ticket:
        """Plan the inference from the observation that precedes ``source_step``."""
        with self._lock:
            if self._planner is None:
                raise RuntimeError("start() before any executor report: nothing to plan from")
            request = self._planner.plan(source_step=source_step, measured_state=measured_state)
            self._planner.mark_started()
            return Ticket(request, self._epoch, self._planner.clock.tick_stamp(source_step))

    def deliver(
        self,
        ticket: Ticket,
        actions: np.ndarray,
        latency_s: float,
        send: Callable[[OutgoingChunk], None] | None = None,
    ) -> OutgoingChunk | None:
        """Book the model's chunk for ``ticket`` and ``send`` it; None when it was dropped.

        ``latency_s``: seconds from the source step's tick to now, the sample Δ is measured from.

        A ticket of an executor clock that has restarted since is dropped: its steps mean
        nothing to the new executor (whose planner never waited for it). The chunk is booked
        before any later report may trigger again, and sent under the lock, so a restart
        detected meanwhile cannot slip in between.
        """
        with self._lock:
            if ticket.epoch != self._epoch or self._planner is None:
                return None
            chunk = OutgoingChunk(
                chunk_id=self._next_chunk_id,
                request=ticket.request,
                actions=np.asarray(actions, dtype=np.float32),
            )
            self._next_chunk_id += 1
            self._newest_source = ticket.request.source_step
            self._planner.on_published(
                chunk_id=chunk.chunk_id,
                start_step=ticket.request.start_step,
                actions=chunk.actions,
            )
            self._planner.mark_finished(latency_s)
            if send is not None:
                send(chunk)
            return chunk

    def fail(self, ticket: Ticket) -> None:
        """The inference of ``ticket`` produced nothing; the next one may start."""
        with self._lock:
            if ticket.epoch == self._epoch and self._planner is not None:
                self._planner.mark_finished(None)


def _same_limits(a: SafetyLimits, b: SafetyLimits) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in ((a.lower, b.lower), (a.upper, b.upper), (a.max_step, b.max_step))
    )
