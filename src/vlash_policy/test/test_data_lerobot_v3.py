import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from vlash_core.action_space import ActionSpace
from vlash_policy.data.lerobot_v3 import read_lerobot_dataset, write_lerobot_dataset
from vlash_policy.data.synthetic import synthetic_episodes


def test_round_trip_is_lossless(tmp_path):
    eps = synthetic_episodes(3, length=5, image_size=8, num_joints=3, action_space="delta")
    root = write_lerobot_dataset(eps, tmp_path / "ds", robot_type="toy")
    back = read_lerobot_dataset(root)
    assert len(back) == 3
    for a, b in zip(eps, back, strict=True):
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.images["front"], b.images["front"])
        assert (a.instruction, a.fps, a.joint_names) == (b.instruction, b.fps, b.joint_names)
        assert b.action_space is ActionSpace.DELTA
    assert read_lerobot_dataset(root, action_space="absolute")[0].action_space == 0


def test_layout_follows_v3(tmp_path):
    eps = synthetic_episodes(2, length=4, image_size=8)
    root = write_lerobot_dataset(eps, tmp_path / "ds")
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert (info["total_episodes"], info["total_frames"]) == (2, 8)
    assert info["features"]["observation.images.front"]["dtype"] == "image"
    assert info["features"]["observation.state"]["shape"] == [2]
    episodes = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(r["dataset_from_index"], r["dataset_to_index"]) for r in episodes] == [(0, 4), (4, 8)]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data["index"].to_pylist() == list(range(8))
    assert data["frame_index"].to_pylist() == [0, 1, 2, 3] * 2
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((root / "meta/stats.json").read_text())
    actions = np.concatenate([e.actions for e in eps])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), rtol=1e-5)
    assert stats["action"]["count"] == [8]


def test_errors(tmp_path):
    eps = synthetic_episodes(1, length=2, image_size=8)
    root = write_lerobot_dataset(eps, tmp_path / "ds")
    with pytest.raises(FileExistsError):
        write_lerobot_dataset(eps, root)
    with pytest.raises(FileNotFoundError, match=r"info\.json"):
        read_lerobot_dataset(tmp_path)
    info = json.loads((root / "meta/info.json").read_text())
    info["codebase_version"] = "v2.1"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="v3"):
        read_lerobot_dataset(root)
