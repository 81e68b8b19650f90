import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from vlash_policy.action_space import ActionSpace
from vlash_policy.data.convert_bag import bag_to_episode, main, vlash_typestore
from vlash_policy.data.lerobot_v3 import read_lerobot_dataset

JOINTS = ["shoulder", "elbow"]
PERIOD = 0.1


def _write_bag(path, store, *, n_steps=6, drop_image_step=None):
    """A recorder-like bag: executor ticks at 10 Hz, camera/joints stamped 10 ms after a tick."""
    t = store.types
    time_cls, header_cls = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]

    def header(sec):
        return header_cls(stamp=time_cls(sec=int(sec), nanosec=round(sec % 1 * 1e9)),
                          frame_id="")  # fmt: skip

    rng = np.random.default_rng(0)
    commands = rng.normal(size=(n_steps, 2))
    images = rng.integers(0, 255, size=(n_steps, 4, 5, 3), dtype=np.uint8)
    states = rng.normal(size=(n_steps, 2))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        cam = writer.add_connection("/camera/front", "sensor_msgs/msg/Image", typestore=store)
        js = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=store)
        ex = writer.add_connection(
            "/vlash/executed_actions", "vlash_msgs/msg/ExecutedActions", typestore=store
        )
        for k in range(n_steps):
            stamp = 100.0 + k * PERIOD
            # step 3 is a holding step: no command, the executor repeats step 2's
            executed = [] if k == 3 else [k]
            msg = t["vlash_msgs/msg/ExecutedActions"](
                header=header(stamp), step=k,
                chunk_ids=np.array([7] * len(executed), np.uint64),
                indices=np.array(executed, np.uint32), steps=np.array(executed, np.int64),
                commanded_positions=commands[executed].reshape(-1),
                joint_names=JOINTS, holding=k == 3, dropped_actions=0, running_chunk_id=7,
                steps_left=1, tick_lateness=0.0, control_period=PERIOD,
            )  # fmt: skip
            ns = int(stamp * 1e9)
            writer.write(ex, ns, store.serialize_cdr(msg, msg.__msgtype__))
            # joint_states list the joints in another order than the executor
            jmsg = t["sensor_msgs/msg/JointState"](
                header=header(stamp + 0.01), name=JOINTS[::-1],
                position=states[k][::-1].copy(), velocity=np.zeros(0), effort=np.zeros(0),
            )  # fmt: skip
            writer.write(js, ns + 10_000_000, store.serialize_cdr(jmsg, jmsg.__msgtype__))
            if k != drop_image_step:
                bgr = images[k][..., ::-1].copy()
                imsg = t["sensor_msgs/msg/Image"](
                    header=header(stamp + 0.01), height=4, width=5, encoding="bgr8",
                    is_bigendian=0, step=15, data=bgr.reshape(-1),
                )  # fmt: skip
                writer.write(cam, ns + 10_000_000, store.serialize_cdr(imsg, imsg.__msgtype__))
    return commands, images, states


def test_converts_executed_commands_and_nearest_observations(tmp_path):
    store = vlash_typestore()
    commands, images, states = _write_bag(tmp_path / "bag", store)
    ep = bag_to_episode(tmp_path / "bag", instruction="reach", typestore=store)
    assert ep.length == 6 and ep.fps == pytest.approx(10.0)
    assert ep.action_space is ActionSpace.ABSOLUTE and ep.joint_names == tuple(JOINTS)
    expected = commands.copy()
    expected[3] = commands[2]  # holding repeats the last command
    np.testing.assert_allclose(ep.actions, expected, rtol=1e-6)
    np.testing.assert_allclose(ep.states, states, rtol=1e-6)
    np.testing.assert_array_equal(ep.images["camera_front"], images)  # bgr8 -> RGB


def test_cli_writes_a_lerobot_dataset(tmp_path):
    store = vlash_typestore()
    _write_bag(tmp_path / "b1", store)
    assert main([str(tmp_path / "b1"), str(tmp_path / "out"), "--instruction", "reach"]) == 0
    (back,) = read_lerobot_dataset(tmp_path / "out")
    assert back.length == 6 and back.instruction == "reach"


def test_missing_frames_trim_ends_and_reject_gaps(tmp_path):
    store = vlash_typestore()
    _write_bag(tmp_path / "end", store, drop_image_step=5)
    assert bag_to_episode(tmp_path / "end", instruction="x", typestore=store).length == 5
    _write_bag(tmp_path / "gap", store, drop_image_step=2)
    with pytest.raises(ValueError, match="step 2 has no frame"):
        bag_to_episode(tmp_path / "gap", instruction="x", typestore=store)
