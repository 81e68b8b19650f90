"""Control-step timeline of asynchronous chunked execution (VLASH Sec. 3).

Control steps are integers owned by the executor. A chunk ``A_t = [a_t, ..., a_{t+H-1}]`` is
predicted from the observation/state taken at step ``t``; its first ``K`` actions are planned for
the prediction interval ``I_t^pred = [t, t+K)`` but, because inference takes ``Δ`` control steps,
they are executed over ``I_t^exec = [t+Δ, t+Δ+K)`` (VLASH Sec. 3, definitions of ``I_t^pred`` and
``I_t^exec``). ``Δ`` is measured from observed inference latencies by :class:`DelayEstimator`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import numpy as np

from vlash_core.validation import check_int

# Latencies that are an exact multiple of the control period (0.1 s at 30 Hz) come out of the
# float division as 3.0000000000000004; without this slack ceil() would add a whole extra step.
_STEP_ROUNDING_TOLERANCE = 1e-9


def prediction_interval(t: int, horizon: int) -> range:
    """Steps ``[t, t+K)`` for which a chunk conditioned at step ``t`` is planned (``I_t^pred``)."""
    t = check_int("t", t)
    horizon = check_int("horizon", horizon, 1)
    return range(t, t + horizon)


def execution_interval(t: int, delay: int, horizon: int) -> range:
    """Steps ``[t+Δ, t+Δ+K)`` at which the chunk's first ``K`` actions run (``I_t^exec``)."""
    t = check_int("t", t)
    delay = check_int("delay", delay, 0)
    horizon = check_int("horizon", horizon, 1)
    return range(t + delay, t + delay + horizon)


def _check_period_and_percentile(control_period_s: float, percentile: float) -> None:
    if not math.isfinite(control_period_s) or control_period_s <= 0.0:
        raise ValueError(f"control_period_s must be finite and > 0, got {control_period_s}")
    if not math.isfinite(percentile) or not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")


def delay_steps_from_latencies(
    latencies_s: Sequence[float],
    *,
    control_period_s: float,
    percentile: float = 95.0,
    margin_steps: int = 0,
    max_steps: int,
) -> int:
    """Inference delay ``Δ`` in control steps from measured inference latencies (VLASH Sec. 3).

    ``Δ = clip(ceil(P_p(latency) / control_period) + margin, 0, max_steps)``. Rounding up makes the
    chunk's start step one the robot has not yet passed when the chunk arrives, for all but the
    slowest ``100 - p`` percent of inferences; ``margin_steps`` adds slack for jitter.
    """
    _check_period_and_percentile(control_period_s, percentile)
    margin_steps = check_int("margin_steps", margin_steps, 0)
    max_steps = check_int("max_steps", max_steps, 0)
    samples = np.asarray(latencies_s, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"latencies_s must be a non-empty 1-D sequence, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)) or np.any(samples < 0.0):
        raise ValueError(f"latencies_s must be finite and >= 0, got {samples.tolist()}")
    latency = float(np.percentile(samples, percentile))
    steps = math.ceil(latency / control_period_s - _STEP_ROUNDING_TOLERANCE)
    return min(max(steps + margin_steps, 0), max_steps)


class DelayEstimator:
    """Running estimate of ``Δ`` over a sliding window of recent inference latencies.

    With ``fixed_delay`` set the estimate is that constant (used for ablations and for a
    deterministic simulator); otherwise it is :func:`delay_steps_from_latencies` over the last
    ``window`` samples, and ``initial_delay`` until the first sample arrives.
    """

    def __init__(
        self,
        *,
        control_period_s: float,
        max_steps: int,
        window: int = 50,
        percentile: float = 95.0,
        margin_steps: int = 0,
        fixed_delay: int | None = None,
        initial_delay: int = 0,
    ) -> None:
        _check_period_and_percentile(control_period_s, percentile)
        self._max_steps = check_int("max_steps", max_steps, 0)
        window = check_int("window", window, 1)
        self._margin_steps = check_int("margin_steps", margin_steps, 0)
        initial_delay = check_int("initial_delay", initial_delay, 0)
        if initial_delay > self._max_steps:
            raise ValueError(f"initial_delay {initial_delay} exceeds max_steps {self._max_steps}")
        if fixed_delay is not None:
            fixed_delay = check_int("fixed_delay", fixed_delay, 0)
            if fixed_delay > self._max_steps:
                raise ValueError(f"fixed_delay {fixed_delay} exceeds max_steps {self._max_steps}")
        self._control_period_s = float(control_period_s)
        self._percentile = float(percentile)
        self._fixed_delay = fixed_delay
        self._samples: collections.deque[float] = collections.deque(maxlen=window)
        # Δ changes only when a latency is recorded, but is read on every executor report (the
        # control rate): a percentile per read cost the policy node's callback thread a tenth of
        # its time, taken from the inference thread through the GIL (py-spy, 50 Hz).
        self._estimate = initial_delay if fixed_delay is None else fixed_delay

    def record(self, latency_s: float) -> None:
        """Add one measured inference latency in seconds (source step's tick -> chunk sent)."""
        latency_s = float(latency_s)
        if not math.isfinite(latency_s) or latency_s < 0.0:
            raise ValueError(f"latency_s must be finite and >= 0, got {latency_s}")
        self._samples.append(latency_s)
        if self._fixed_delay is None:
            self._estimate = delay_steps_from_latencies(
                self._samples,
                control_period_s=self._control_period_s,
                percentile=self._percentile,
                margin_steps=self._margin_steps,
                max_steps=self._max_steps,
            )

    @property
    def latencies(self) -> tuple[float, ...]:
        """Latencies currently in the window, oldest first."""
        return tuple(self._samples)

    @property
    def delay_steps(self) -> int:
        """Current ``Δ`` in control steps."""
        return self._estimate
