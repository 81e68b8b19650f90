"""run_report: summary numbers of a hand-built run bag, computed by hand, and its plots.

The run (10 Hz executor, two joints, in namespace /demo): steps 0-2 hold before the first chunk;
chunk 1 runs steps 3-7, chunk 2 steps 8-12, steps 13-14 hold, chunk 3 arrives late at step 15 (its
action 0, due at 14, is dropped) and runs to step 20; chunk 4 is published but never runs.
Steps 21-22 hold while the nodes shut down (one more action is dropped at 22).
Target 0 is shown before the loop starts, target 5 after it ended: neither is counted, and
target 4 is still up when the loop ends (it is missed during shut-down).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from vlash_core.stamps import ns_to_sec_nanosec
from vlash_policy.recording.bag_io import BagWriter, make_typestore
from vlash_policy.recording.random_messages import random_message
from vlash_policy.recording.run_report import (
    PLOT_FILES,
    RunData,
    chunk_switch_steps,
    format_summary,
    load_run,
    loop_targets,
    summarize,
    write_report,
)

TYPESTORE = make_typestore()
T = TYPESTORE.types
NS = "/demo"
T0 = 1000 * 10**9  # stamp of step 0, ns
PERIOD_NS = 100_000_000
JOINTS = ["a", "b"]
# chunk id -> (source_step, delay_steps, inference seconds)
CHUNKS = {1: (1, 2, 0.05), 2: (5, 3, 0.08), 3: (10, 4, 0.2), 4: (19, 2, 0.07)}
# executed step -> (chunk id, action index)
EXECUTED = {
    **{s: (1, s - 3) for s in range(3, 8)},
    **{s: (2, s - 8) for s in range(8, 13)},
    **{s: (3, s - 14) for s in range(15, 21)},
}
# (kind, target id, stamp ns)
EVENTS = [
    ("shown", 0, T0),
    ("missed", 0, T0 + 5 * PERIOD_NS),
    ("shown", 1, T0 + 4 * PERIOD_NS),
    ("hit", 1, T0 + 9 * PERIOD_NS),
    ("shown", 2, T0 + 10 * PERIOD_NS),
    ("missed", 2, T0 + 15 * PERIOD_NS),
    ("shown", 3, T0 + 16 * PERIOD_NS),
    ("hit", 3, T0 + 19 * PERIOD_NS),
    ("shown", 4, T0 + 20 * PERIOD_NS),
    ("missed", 4, T0 + 22 * PERIOD_NS),
    ("shown", 5, T0 + 22 * PERIOD_NS),
]
LAST_STEP = 22


def _header(ns: int) -> object:
    time = T["builtin_interfaces/msg/Time"](*ns_to_sec_nanosec(ns))
    return T["std_msgs/msg/Header"](stamp=time, frame_id="")


def _stamp(step: int) -> int:
    # The loop's last tick (20) comes one period late: 17 intervals over 1.8 s.
    return T0 + step * PERIOD_NS + (PERIOD_NS if step >= 20 else 0)


def _report(rng: np.random.Generator, step: int) -> object:
    msg = random_message(TYPESTORE, "vlash_msgs/msg/ExecutedActions", rng)
    msg.header, msg.step, msg.joint_names = _header(_stamp(step)), step, JOINTS
    executed = step in EXECUTED
    chunk_id, index = EXECUTED.get(step, (0, 0))
    msg.steps = np.array([step] if executed else [], dtype=np.int64)
    msg.chunk_ids = np.array([chunk_id] if executed else [], dtype=np.uint64)
    msg.indices = np.array([index] if executed else [], dtype=np.uint32)
    msg.commanded_positions = np.array([0.1 * step, -0.1 * step] if executed else [])
    msg.holding = not executed
    msg.dropped_actions = 1 if step >= 15 else 0
    msg.dropped_actions += 1 if step >= 22 else 0
    # Lateness outside the loop is large, so including those ticks would show.
    msg.tick_lateness = 0.001 * step if 3 <= step <= 20 else 0.5
    msg.control_period = PERIOD_NS * 1e-9
    return msg


def _chunk(rng: np.random.Generator, chunk_id: int) -> object:
    source, delay, seconds = CHUNKS[chunk_id]
    msg = random_message(TYPESTORE, "vlash_msgs/msg/ActionChunk", rng)
    msg.header = _header(T0 + source * PERIOD_NS)
    msg.chunk_id, msg.source_step, msg.delay_steps = chunk_id, source, delay
    msg.start_step, msg.strategy = source + delay, "vlash"
    msg.execution_horizon = 6
    msg.inference_time.total = seconds
    return msg


def _event(rng: np.random.Generator, kind: str, target_id: int, ns: int) -> object:
    msg = random_message(TYPESTORE, "vlash_msgs/msg/TaskEvent", rng)
    msg.header, msg.kind, msg.target_id = _header(ns), kind, target_id
    return msg


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("run") / "bag"
    topics = {
        f"{NS}/vlash/executed_actions": "vlash_msgs/msg/ExecutedActions",
        f"{NS}/vlash/action_chunk": "vlash_msgs/msg/ActionChunk",
        f"{NS}/sim/task_events": "vlash_msgs/msg/TaskEvent",
        f"{NS}/joint_states": "sensor_msgs/msg/JointState",
    }
    with BagWriter(path, topics, typestore=TYPESTORE) as writer:
        for step in range(LAST_STEP + 1):
            writer.write_message(f"{NS}/vlash/executed_actions", _stamp(step), _report(rng, step))
        for chunk_id in CHUNKS:
            writer.write_message(f"{NS}/vlash/action_chunk", T0, _chunk(rng, chunk_id))
        for kind, target_id, ns in EVENTS:
            writer.write_message(f"{NS}/sim/task_events", ns, _event(rng, kind, target_id, ns))
    return path


def test_summary_matches_the_hand_computed_run(bag: Path) -> None:
    s = summarize(load_run(bag))
    assert s["strategy"] == "vlash" and s["execution_horizon"] == 6
    assert s["ticks"] == 18  # steps 3..20
    assert s["duration_s"] == pytest.approx(1.8)
    assert s["control_rate_hz"] == pytest.approx(17 / 1.8)
    assert s["nominal_control_rate_hz"] == pytest.approx(10.0)
    assert (s["targets_shown"], s["targets_hit"], s["targets_missed"]) == (4, 2, 1)
    assert s["targets_pending"] == 1
    assert s["hit_rate"] == pytest.approx(2 / 3)
    assert s["mean_time_to_hit_s"] == pytest.approx((0.5 + 0.3) / 2)
    assert (s["chunks"], s["chunks_executed"]) == (4, 3)
    assert s["delay_steps_median"] == 2.5 and s["delay_steps_max"] == 4
    # Latencies 50, 70, 80, 200 ms: median 75; p95 at rank 3 * 0.95 = 2.85 -> 80 + 0.85 * 120.
    assert s["inference_latency_median_ms"] == pytest.approx(75.0)
    assert s["inference_latency_p95_ms"] == pytest.approx(182.0)
    assert s["dropped_actions"] == 1
    # Lateness 3..20 ms over the loop: p50 11.5, p99 at rank 17 * 0.99 = 16.83 -> 19.83.
    assert s["tick_lateness_p50_ms"] == pytest.approx(11.5)
    assert s["tick_lateness_p99_ms"] == pytest.approx(19.83)
    assert s["tick_lateness_max_ms"] == pytest.approx(20.0)
    assert s["holding_ticks"] == 2  # steps 13-14; steps 0-2 and 21-22 are outside the loop


def test_targets_and_chunk_switches(bag: Path) -> None:
    run = load_run(bag)
    targets = loop_targets(run)
    assert [(t.target_id, t.outcome) for t in targets] == [
        (1, "hit"),
        (2, "missed"),
        (3, "hit"),
        (4, "pending"),
    ]
    # Times count from the first executed action (step 3).
    assert targets[0].shown_s == pytest.approx(0.1) and targets[0].end_s == pytest.approx(0.6)
    assert targets[3].end_s is None
    assert chunk_switch_steps(run) == {1: 3, 2: 8, 3: 15}


def test_report_files(bag: Path, tmp_path: Path) -> None:
    summary, plots = write_report(bag, tmp_path / "out")
    assert set(plots) == set(PLOT_FILES)
    for path in plots.values():
        height, width, _ = imread(path).shape
        assert width >= 600 and height >= 300, path
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert text == format_summary(summary) + "\n"
    assert "6 steps" in text and "2 / 1" in text and "66.7 %" in text and "75.0 / 182.0 ms" in text
    assert "summary.json" in {p.name for p in (tmp_path / "out").iterdir()}


def test_a_run_without_executed_actions_is_rejected(bag: Path) -> None:
    run = load_run(bag)
    with pytest.raises(ValueError, match="never ran"):
        RunData(reports=run.reports[:3], chunks=[], events=[])
