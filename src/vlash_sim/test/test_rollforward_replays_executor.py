"""The policy's roll-forward replays the executor exactly, velocity limit binding (VLASH Sec. 4.1).

Here because it runs both sides: vlash_executor's ChunkExecutor and vlash_policy's planner.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, target
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_core.action_space import ActionSpace
from vlash_core.strategies import get_strategy
from vlash_executor.chunk_executor import ChunkExecutor, IncomingChunk
from vlash_policy.inference_planner import InferencePlanner
from vlash_policy.timeline import DelayEstimator

JOINTS = 2

LIMIT = 1.0


def _deliver(executor: ChunkExecutor, pending: list[tuple[int, IncomingChunk]]) -> None:
    """Accept, between ticks, the chunks whose arrival step has come (in arrival order)."""
    while pending and pending[0][0] <= executor.step:
        executor.accept(pending.pop(0)[1])


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    space=st.sampled_from(list(ActionSpace)),
    q=st.integers(1, 3),
    max_step=st.floats(0.01, 0.2),
    seed=st.lists(st.floats(-1.5, 1.5), min_size=JOINTS, max_size=JOINTS),
)
def test_rolled_state_is_the_command_the_executor_sends_at_target_step_minus_one(
    data, space, q, max_step, seed
):
    """The executor clamps every tick (velocity limit binding); s_{t+Δ} must match it exactly.

    A vlash loop: each chunk is planned from an observation of step t (0-2 steps old) with a
    Δ drawn per chunk, published for t + Δ, and delivered on time or late while the executor
    runs. Absolute targets reach up to 1.5 rad past the limits, deltas up to 0.3 rad a step.
    Once the executor has reported the command it holds (its seed from the arm included), the
    observed arm differs from it (up to 0.1 rad), as a real arm lags or sags: the rolled state
    follows the executor's commands, never the measurement.
    """
    strategy = get_strategy("vlash")
    executor = ChunkExecutor(
        strategy=strategy, joint_count=JOINTS, lower=-LIMIT, upper=LIMIT, max_step_per_tick=max_step
    )
    planner = InferencePlanner(
        strategy=strategy,
        delay=DelayEstimator(control_period_s=0.1, max_steps=50, fixed_delay=0),
        action_space=space,
        joint_count=JOINTS,
        quantization=q,
        lower=-LIMIT,
        upper=LIMIT,
        max_step_per_tick=max_step,
    )
    executor.set_measured_position(seed)
    # The command in force after each step. The arm tracks it exactly, so an observation taken
    # before step t shows the command in force after step t - 1 (the seed before step 0).
    in_force = {-1: executor.last_command}
    # (target step t + Δ, rolled state, whether a chunk sent before will arrive late)
    predictions: list[tuple[int, np.ndarray, bool]] = []
    takeovers: list[int] = []  # step from which each chunk replaces the earlier ones
    pending: list[tuple[int, IncomingChunk]] = []
    scale = 0.3 if space is ActionSpace.DELTA else 2.5
    clamped = 0
    source = 0
    for chunk_id in range(1, data.draw(st.integers(1, 4)) + 1):
        for _ in range(data.draw(st.integers(0, 6))):  # the executor runs on meanwhile
            _deliver(executor, pending)
            result = executor.tick()
            clamped += result.clamped
            in_force[result.step] = executor.last_command
            planner.on_feedback(executor.report(result), stamp_s=result.step * 0.1)
        # Observations arrive in order: a chunk is never conditioned before the previous one.
        source = max(source, executor.step - data.draw(st.integers(0, min(2, executor.step))))
        delay = data.draw(st.integers(0, 5))
        planner.delay = DelayEstimator(control_period_s=0.1, max_steps=50, fixed_delay=delay)
        # Without a report of a step before t the planner can only take the hold position as
        # the executor seeded it, from the measured joints.
        lag = data.draw(st.floats(-0.1, 0.1)) if source > 0 else 0.0
        request = planner.plan(source_step=source, measured_state=in_force[source - 1] + lag)
        assert request.start_step == source + delay
        late_before = any(arrival > chunk.start_step for arrival, chunk in pending)
        predictions.append((source + delay, request.rolled_state, late_before))
        horizon = data.draw(st.integers(1, 8))
        micro = data.draw(arrays(np.float64, (horizon, JOINTS), elements=st.floats(-1, 1)))
        micro = micro * scale
        planner.on_published(chunk_id=chunk_id, start_step=request.start_step, actions=micro)
        # On time or late, in publication order (one reliable DDS publisher).
        arrival = max(pending[-1][0] if pending else 0, executor.step)
        arrival += data.draw(st.integers(0, delay + 3))
        takeovers.append(max(request.start_step, arrival))
        chunk = IncomingChunk(chunk_id, request.start_step, source, micro, space, q)
        pending.append((arrival, chunk))
    while executor.step < max(p[0] for p in predictions):
        _deliver(executor, pending)
        result = executor.tick()
        clamped += result.clamped
        in_force[result.step] = executor.last_command
    target(float(clamped), label="clamped commands")  # steer the search to binding limits
    for n, (target_step, rolled, late_before) in enumerate(predictions):
        # Unknowable when the plan was made: a chunk already sent that will arrive late (its
        # late actions are dropped), or one sent later that takes over before this target.
        if not late_before and all(t >= target_step for t in takeovers[n + 1 :]):
            np.testing.assert_array_equal(
                rolled, in_force[target_step - 1], err_msg=f"chunk {n + 1}"
            )
