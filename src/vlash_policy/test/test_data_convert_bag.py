"""Bags -> LeRobot episodes: steps labelled as the deployed policy labels them (StepClock), topics
found in the bag's namespace, slow topics and gaps handled and reported instead of aborting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vlash_core.action_space import ActionSpace
from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.stamps import seconds_to_sec_nanosec
from vlash_policy.data.convert_bag import convert_bag, main
from vlash_policy.data.lerobot_v3 import read_lerobot_dataset
from vlash_policy.inference_planner import StepClock
from vlash_policy.recording.bag_io import BagWriter, make_typestore

JOINTS = ["shoulder", "elbow"]
PERIOD = 0.1
T0 = 100.0
TYPESTORE = make_typestore()
T = TYPESTORE.types


def _header(seconds: float):
    sec, nanosec = seconds_to_sec_nanosec(seconds)
    stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id="")


def _tick(k: float) -> float:
    return T0 + k * PERIOD


def write_bag(
    path: Path,
    *,
    n_steps: int = 40,
    namespace: str = "",
    commanded: Callable[[int], bool] = lambda k: k >= 2,
    reported: Callable[[int], bool] = lambda k: True,
    observations: Callable[[int], list[float]] = lambda k: [_tick(k) - 0.03],
    joint_states: Callable[[float], bool] = lambda stamp: True,
) -> dict[float, float]:
    """A recorder-like bag: executor reports of steps 0..n-1 at ticks ``T0 + k * PERIOD``.

    ``observations(k)`` lists the stamps of camera + joint-state pairs published around step k;
    an observation stamped ``s`` has joint positions ``(s, -s)`` and a frame whose pixels encode
    ``s`` (so a test can tell which one a step got). Step k commands ``(k, 10 k)`` if
    ``commanded(k)``, else holds. Returns {stamp: stamp} of the joint states written.
    """
    topics = {
        f"{namespace}/vlash/executed_actions": "vlash_msgs/msg/ExecutedActions",
        f"{namespace}/joint_states": "sensor_msgs/msg/JointState",
        f"{namespace}/camera/image_raw": "sensor_msgs/msg/Image",
        # A decoy of the same type as joint_states, empty as in a forward_position run.
        f"{namespace}/joint_command": "sensor_msgs/msg/JointState",
    }
    written = {}
    held: list[float] = []  # the executor's command in force (none before its first)
    with BagWriter(path, topics, typestore=TYPESTORE) as bag:
        for k in range(n_steps):
            for stamp in observations(k):
                ns = round(stamp * 1e9)
                if joint_states(stamp):
                    msg = T["sensor_msgs/msg/JointState"](
                        header=_header(stamp), name=JOINTS[::-1],  # another order than the executor
                        position=np.array([-stamp, stamp]), velocity=np.zeros(0),
                        effort=np.zeros(0),
                    )  # fmt: skip
                    bag.write_message(f"{namespace}/joint_states", ns, msg)
                    written[stamp] = stamp
                pixels = np.full((2, 3, 3), round((stamp - T0) * 100) % 256, np.uint8)
                image = T["sensor_msgs/msg/Image"](
                    header=_header(stamp), height=2, width=3, encoding="rgb8", is_bigendian=0,
                    step=9, data=pixels.reshape(-1),
                )  # fmt: skip
                bag.write_message(f"{namespace}/camera/image_raw", ns, image)
            if not reported(k):
                continue
            executed = [k] if commanded(k) else []
            held = [k, 10 * k] if executed else held
            report = T["vlash_msgs/msg/ExecutedActions"](
                header=_header(_tick(k)), step=k,
                chunk_ids=np.array([1] * len(executed), np.uint64),
                indices=np.array(executed, np.uint32), steps=np.array(executed, np.int64),
                commanded_positions=np.array([[k, 10 * k] for k in executed], float).reshape(-1),
                command_in_force=np.array(held, float),
                joint_names=JOINTS, holding=not executed, dropped_actions=0, running_chunk_id=1,
                steps_left=1, tick_lateness=0.0, control_period=PERIOD,
                position_lower=np.full(2, -100.0), position_upper=np.full(2, 100.0),
                max_step_per_tick=np.full(2, 100.0),
            )  # fmt: skip
            bag.write_message(f"{namespace}/vlash/executed_actions", round(_tick(k) * 1e9), report)
    return written


def _convert(path: Path, **kw):
    return convert_bag(path, instruction="reach", camera_names=["front"], **kw)


def test_steps_take_the_last_observation_before_their_tick_as_the_policy_labels_it(tmp_path):
    # Two observations per step: just after the previous tick and 30 ms before this one.
    write_bag(tmp_path / "bag", observations=lambda k: [_tick(k - 1) + 0.001, _tick(k) - 0.03])
    conversion = _convert(tmp_path / "bag")
    (episode,) = conversion.episodes
    assert conversion.episode_steps[0].first == 2 and episode.length == 38  # steps 2..39
    assert episode.fps == pytest.approx(1 / PERIOD) and episode.action_space is ActionSpace.ABSOLUTE
    assert list(episode.joint_names) == JOINTS
    stamps = episode.states[:, 0]
    np.testing.assert_allclose(stamps, [_tick(k) - 0.03 for k in range(2, 40)], atol=1e-4)
    # The deployed policy's StepClock labels exactly these observations with their step.
    clock = StepClock()
    for k in range(40):
        clock.add_tick(_tick(k), k)
    assert [clock.source_step(float(s)) for s in stamps] == list(range(2, 40))
    np.testing.assert_allclose(episode.states[:, 1], -stamps)  # joints reordered by name
    assert episode.images["front"][5, 0, 0, 0] == round((_tick(7) - 0.03 - T0) * 100) % 256
    np.testing.assert_allclose(episode.actions, [[k, 10 * k] for k in range(2, 40)])


def test_holding_repeats_the_last_command_and_the_loading_steps_are_trimmed(tmp_path):
    write_bag(tmp_path / "bag", commanded=lambda k: k >= 5 and k not in (10, 11))
    conversion = _convert(tmp_path / "bag")
    (episode,) = conversion.episodes
    assert conversion.trimmed_start == 5 and conversion.trimmed_end == 0
    assert episode.actions[10 - 5].tolist() == [9, 90] == episode.actions[11 - 5].tolist()
    assert "trimmed 5 steps at the start" in conversion.summary()


def test_a_slow_topic_reuses_its_last_message_and_is_named(tmp_path):
    # Joint states at a third of the executor's rate: every step reuses one up to 2 steps old.
    write_bag(tmp_path / "bag", joint_states=lambda s: round((s - T0) / PERIOD) % 3 == 0)
    conversion = _convert(tmp_path / "bag")
    assert len(conversion.episodes) == 1 and not conversion.gaps
    summary = conversion.summary()
    assert "/joint_states ran at 3.3 Hz, short of the executor's 10.0 Hz" in summary
    assert f"{conversion.stale_steps['/joint_states']} of the steps used" in summary
    assert "/camera/image_raw ran" not in summary
    # Stricter than the topic's spacing: the steps 2 behind their joint state are gaps.
    strict = _convert(tmp_path / "bag", max_stale_steps=1, min_episode_steps=1)
    assert strict.gaps and all(g.first == g.last for g in strict.gaps)
    assert {g.reason for g in strict.gaps} == {
        "/joint_states has no message within 1 steps (the last is 2 steps old)"
    }
    # Steps with their own joint state are single steps between gaps: too short to keep.
    assert not _convert(tmp_path / "bag", max_stale_steps=0).episodes


def test_gaps_are_skipped_and_split_the_episode(tmp_path):
    lost = set(range(14, 20))  # 6 steps without a joint state, more than max_stale_steps
    write_bag(
        tmp_path / "bag",
        joint_states=lambda s: round((s - T0 + 0.03) / PERIOD) not in lost,
        reported=lambda k: k != 30,  # the recorder lost one report
    )
    conversion = _convert(tmp_path / "bag", min_episode_steps=5)
    assert [(r.first, r.last) for r in conversion.episode_steps] == [(2, 16), (20, 29), (31, 39)]
    assert [e.length for e in conversion.episodes] == [15, 10, 9]
    gaps = [str(g) for g in conversion.gaps]
    assert gaps[0].startswith("steps 17-19: /joint_states has no message within 3 steps")
    assert gaps[1] == "step 30: the bag lacks the executor's report of the step"
    conversion = _convert(tmp_path / "bag", min_episode_steps=12)
    assert [(r.first, r.last) for r in conversion.episode_steps] == [(2, 16)]
    assert "dropped 2 piece(s) shorter than --min-episode-steps: steps 20-29, steps 31-39" in (
        conversion.summary()
    )


def test_topics_follow_the_bag_namespace(tmp_path):
    write_bag(tmp_path / "bag", namespace="/arm1")
    conversion = _convert(tmp_path / "bag")
    assert conversion.topics.namespace == "/arm1"
    assert conversion.topics.joint_states == "/arm1/joint_states"
    assert conversion.topics.cameras == ("/arm1/camera/image_raw",)
    assert conversion.episodes[0].length == 38
    assert conversion.summary().startswith(f"{tmp_path / 'bag'} (namespace /arm1)")


def test_errors_name_the_topic_that_is_missing_or_short(tmp_path):
    write_bag(tmp_path / "bag", namespace="/arm1")
    with pytest.raises(ValueError, match=r"no sensor_msgs/msg/JointState topic /joint_states .*"
                       r"\['/arm1/joint_command', '/arm1/joint_states'\]"):  # fmt: skip
        _convert(tmp_path / "bag", joint_states_topic="/joint_states")
    with pytest.raises(ValueError, match=r"1 camera topics with images .* the dataset has 2"):
        convert_bag(tmp_path / "bag", instruction="x", camera_names=["front", "wrist"])
    with pytest.raises(ValueError, match="--camera-topic /cam is not an image topic"):
        _convert(tmp_path / "bag", camera_topics=["/cam"])
    write_bag(tmp_path / "blind", joint_states=lambda s: False)
    with pytest.raises(ValueError, match=r"bag .*blind: /joint_states has no messages"):
        _convert(tmp_path / "blind")
    # Joint states stop before the policy's first command: no step has a recent one.
    write_bag(tmp_path / "stale", commanded=lambda k: k >= 10, joint_states=lambda s: s < T0)
    with pytest.raises(ValueError, match=r"a topic lacks one at: /joint_states at 30, "):
        _convert(tmp_path / "stale")
    write_bag(tmp_path / "dark", observations=lambda k: [])
    with pytest.raises(ValueError, match=r"image topics \['/camera/image_raw'\] hold no messages"):
        _convert(tmp_path / "dark")
    write_bag(tmp_path / "idle", commanded=lambda k: False)
    with pytest.raises(ValueError, match="never executed an action"):
        _convert(tmp_path / "idle")


def test_cli_writes_a_dataset_named_after_the_embedded_checkpoints_cameras(tmp_path, capsys):
    write_bag(tmp_path / "b1")
    write_bag(tmp_path / "b2", namespace="/arm1")
    assert main([str(tmp_path / "b1"), str(tmp_path / "b2"), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 2 episode(s), 76 frames, cameras ['front']" in out
    assert f"{tmp_path / 'b2'} (namespace /arm1)" in out
    back = read_lerobot_dataset(tmp_path / "out")
    assert [e.length for e in back] == [38, 38] and back[0].instruction == TASK_INSTRUCTION
    assert list(back[0].images) == ["front"]
    with pytest.raises(SystemExit):
        main([str(tmp_path / "b1"), str(tmp_path / "out")])  # never overwrites
    # An unusable bag is skipped with its reason; the others still make the dataset.
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "b1"), str(tmp_path / "out2")]) == 0
    captured = capsys.readouterr()
    assert f"skipped {tmp_path / 'nowhere'}: {tmp_path / 'nowhere'} is not a rosbag2" in (
        captured.err
    )
    assert "(from 1 of 2 bag(s))" in captured.out
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out3")]) == 1
    assert "nothing written" in capsys.readouterr().err and not (tmp_path / "out3").exists()
