"""Reaction benchmark analysis on a hand-built bag: every figure computed by hand.

Timeline (50 Hz, 20 ms ticks from t = 1 s, steps 0..9): chunk 1 conditioned on an observation at
0.99 s (source step 0, Δ = 0) runs steps 0..6; a target is shown at 1.0855 s (the sim published
the observation of that step at 1.0850 s); chunk 2 conditioned on that observation (source step
5, Δ = 1: start_step 6) arrives at the recorder at 1.11 s, its action 0 is late, action 1 runs at
step 7 (due at 1.14 s, 3 ms late).
The tick of step 3 runs 12 ms late, within its period; the tick of step 9 is due 60 ms after step 8:
two missed ticks.
"""

from __future__ import annotations

import pytest
from rclpy.serialization import serialize_message

from vlash_bench.reaction import RECORDED, analyse, reaction_bound_ms
from vlash_core.stamps import ns_to_sec_nanosec
from vlash_msgs.msg import ActionChunk, ExecutedActions, TaskEvent
from vlash_policy.recording.bag_io import BagWriter

NS = 1_000_000


def _stamp(msg, ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_sec_nanosec(ns)


def _chunk(chunk_id: int, obs_ns: int, source_step: int, delay: int, total_s: float):
    msg = ActionChunk(
        chunk_id=chunk_id,
        source_step=source_step,
        delay_steps=delay,
        start_step=source_step + delay,
        joint_names=["j"],
        actions=[0.0],
    )
    msg.inference_time.total = total_s
    _stamp(msg, obs_ns)
    return msg


def _report(step: int, ns: int, chunk_index: tuple[int, int] | None, lateness: float):
    # Every report executes an action: rosbags rejects rclpy's CDR of a report whose arrays are
    # all empty (a padding difference for an empty float64[]), so the timeline has no hold.
    msg = ExecutedActions(step=step, control_period=0.02, tick_lateness=lateness, joint_names=["j"])
    msg.position_lower, msg.position_upper, msg.max_step_per_tick = [-3.0], [3.0], [0.1]
    msg.holding = chunk_index is None
    if chunk_index is not None:
        msg.steps, msg.chunk_ids, msg.indices = [step], [chunk_index[0]], [chunk_index[1]]
        msg.commanded_positions = [0.1 * step]
    _stamp(msg, ns)
    return msg


def _write_bag(path, *, start_up_chunk: bool = False):
    shown = TaskEvent(kind="shown", target_id=0, step=5)
    _stamp(shown, 1_085_500 * 1000)
    ticks = {s: 1000 * NS + 20 * NS * s for s in range(9)}
    ticks[9] = ticks[8] + 60 * NS
    plan = {0: (1, 0), 1: (1, 1), 2: (1, 2), 3: (1, 3), 4: (1, 4), 5: (1, 5)}
    plan.update({6: (1, 6), 7: (2, 1), 8: (2, 2), 9: (2, 3)})
    with BagWriter(path, RECORDED) as writer:
        if start_up_chunk:  # torch's first inference: slow, placed 4 steps late, never executed
            writer.write(
                "/vlash/action_chunk", 985 * NS, serialize_message(_chunk(0, 900 * NS, 0, 4, 0.08))
            )
        writer.write(
            "/vlash/action_chunk", 995 * NS, serialize_message(_chunk(1, 990 * NS, 0, 0, 0.004))
        )
        writer.write("/sim/task_events", 1086 * NS, serialize_message(shown))
        writer.write(
            "/vlash/action_chunk", 1110 * NS, serialize_message(_chunk(2, 1085 * NS, 5, 1, 0.025))
        )
        for step, expected_ns in ticks.items():
            lateness = {3: 0.012, 7: 0.003}.get(step, 0.001)
            ns = expected_ns + round(lateness * 1e9)
            report = _report(step, ns, plan[step], lateness)
            writer.write("/vlash/executed_actions", ns + NS // 2, serialize_message(report))
    return path


@pytest.fixture
def bag(tmp_path):
    return _write_bag(tmp_path / "bag")


def test_reaction_jitter_and_alignment_from_the_bag(bag):
    r = analyse(bag, "vlash", 1)
    assert r["targets_shown"] == 1
    # First tick of a chunk conditioned on the stimulus' observation: step 7, 3 ms late, at 1.143 s.
    assert r["reaction_latency"]["n"] == 1
    assert r["reaction_latency"]["max_ms"] == pytest.approx(1143 - 1085.5)
    # Inference windows [0.99, 0.995] s and [1.085, 1.11] s hold the ticks of steps 5 (1.10 s).
    assert r["tick_lateness_during_inference"]["n"] == 1
    assert r["tick_lateness_all"]["max_ms"] == pytest.approx(12.0)
    # Step 3's report comes 31 ms after step 2's, yet its timer period had its tick.
    assert r["missed_ticks"] == 2 and r["missed_ticks_during_inference"] == 0
    # Chunk 1 action 6 ran at step 6, chunk 2 action 1 at step 7 = 6 + 1: no misplacement.
    assert r["alignment_error_steps"] == {"max_abs": 0, "nonzero": 0}
    assert r["late_actions_dropped"] == {"mean": 0.5, "max": 1}
    assert r["inference_latency"]["max_ms"] == pytest.approx(25.0)


def test_the_bound_follows_each_strategy_from_the_same_run(bag):
    """vlash: observations 5 steps apart, Δ 1, one tick; sync: both chunks' latencies + K + 1 ticks.

    The latencies run from observation to arrival: 995 - 990 ms and 1110 - 1085 ms.
    """
    vlash = analyse(bag, "vlash", 1)
    assert vlash["max_delay_steps"] == 1
    assert vlash["median_delay_steps"] == 0.5  # chunks placed 0 and 1 steps after their images
    assert vlash["reaction_bound_ms"] == pytest.approx((5 + 1 + 1) * 20.0)
    assert vlash["max_reaction_over_bound"] == pytest.approx((1143 - 1085.5) / 140.0)
    sync = analyse(bag, "sync", 25)
    assert sync["reaction_bound_ms"] == pytest.approx(26 * 20.0 + 5.0 + 25.0)


def test_the_bound_leaves_out_start_up_chunks_that_serve_no_target(tmp_path):
    """A chunk conditioned before chunk 1 (the one running when the target came) delays nothing."""
    bag = _write_bag(tmp_path / "bag", start_up_chunk=True)
    vlash = analyse(bag, "vlash", 1)
    assert vlash["max_delay_steps"] == 1
    assert vlash["reaction_bound_ms"] == pytest.approx((5 + 1 + 1) * 20.0)
    sync = analyse(bag, "sync", 25)
    assert sync["reaction_bound_ms"] == pytest.approx(26 * 20.0 + 5.0 + 25.0)
    assert sync["inference_latency"]["max_ms"] == pytest.approx(80.0)  # still in the statistics


def test_a_long_wait_and_a_long_delay_add_up_only_within_one_chunk():
    """Chunk 5 steps after its predecessor with Δ = 1, then one 1 step later with Δ = 4: 6 + 1.

    Sync adds the latencies of consecutive chunks, 30 + 10 ms, not the two largest, 30 + 20 ms.
    """
    chunks = [(6, 4, 0.02), (0, 0, 0.03), (5, 1, 0.01)]
    vlash = reaction_bound_ms("vlash", period_s=0.02, execution_horizon=1, chunks=chunks)
    assert vlash == pytest.approx((5 + 1 + 1) * 20.0)
    sync = reaction_bound_ms("sync", period_s=0.02, execution_horizon=25, chunks=chunks)
    assert sync == pytest.approx(26 * 20.0 + 30.0 + 10.0)
