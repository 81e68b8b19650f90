import numpy as np
import pytest

from vlash_core.so101 import TASK_INSTRUCTION
from vlash_policy import embedded
from vlash_policy.embedded import DEFAULT_CHECKPOINT, default_checkpoint_dir
from vlash_policy.policy_interface import FlowVLAPolicy


def test_default_checkpoint_is_found_and_predicts_so101_chunks():
    directory = default_checkpoint_dir()
    assert directory.name == DEFAULT_CHECKPOINT
    policy = FlowVLAPolicy(directory, seed=0)
    assert policy.camera_names == ["front"]
    assert policy.horizon == 16 and policy.action_dim == 6
    image = np.zeros((96, 96, 3), dtype=np.uint8)
    home = np.array([0.0, -0.9, 0.9, 0.9, 0.0, 0.0])
    chunk = policy.predict_chunk({"front": image}, TASK_INSTRUCTION, home, strategy="sync")
    assert chunk.actions.shape == (16, 6)
    assert np.all(np.isfinite(chunk.actions))
    # Trained on the arm's reachable poses: the chunk stays near home rather than anywhere.
    assert np.abs(chunk.actions - home).max() < 1.5


def test_the_committed_checkpoint_is_small():
    directory = default_checkpoint_dir()
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    assert size < 20 * 2**20


def test_source_tree_is_used_when_not_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "_installed_checkpoints", lambda: None)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text("{}")
    monkeypatch.setattr(embedded, "SOURCE_CHECKPOINTS", tmp_path)
    assert default_checkpoint_dir("mine") == tmp_path / "mine"


def test_installed_share_directory_wins(monkeypatch, tmp_path):
    installed, source = tmp_path / "share", tmp_path / "src"
    for root in (installed, source):
        (root / "m").mkdir(parents=True)
        (root / "m" / "config.json").write_text("{}")
    monkeypatch.setattr(embedded, "_installed_checkpoints", lambda: installed)
    monkeypatch.setattr(embedded, "SOURCE_CHECKPOINTS", source)
    assert default_checkpoint_dir("m") == installed / "m"


def test_missing_checkpoint_names_the_places_searched(monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "_installed_checkpoints", lambda: None)
    monkeypatch.setattr(embedded, "SOURCE_CHECKPOINTS", tmp_path)
    with pytest.raises(FileNotFoundError, match="make default-model"):
        default_checkpoint_dir("absent")


@pytest.mark.parametrize("name", ["", "..", "a/b", 3])
def test_rejects_bad_names(name):
    with pytest.raises(ValueError, match="name"):
        default_checkpoint_dir(name)
