import numpy as np
import pytest
import torch

from vlash_core.action_space import ActionSpace
from vlash_policy.data.batching import OffsetDataset, TrainingBatch, collate
from vlash_policy.data.normalization import NormalizationStats
from vlash_policy.data.synthetic import synthetic_episodes


def _tokenize(text):
    return [ord(c) % 50 + 1 for c in text]


def _dataset(shared, max_offset=2, horizon=4, space=ActionSpace.ABSOLUTE, **kw):
    eps = synthetic_episodes(2, length=6, image_size=8, num_joints=3, action_space=space)
    norm = NormalizationStats.compute(eps)
    ds = OffsetDataset(
        eps,
        horizon=horizon,
        max_offset=max_offset,
        shared_observation=shared,
        normalization=norm,
        tokenize=_tokenize,
        **kw,
    )
    return ds, eps, norm


def test_shared_observation_item_has_every_offset_branch():
    ds, eps, norm = _dataset(shared=True)
    assert len(ds) == 12 and ds.num_branches == 3
    item = ds[1]  # episode 0, t = 1
    ep = eps[0]
    assert item["offsets"].tolist() == [0, 1, 2]
    img = torch.from_numpy(ep.images["front"][1]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["images"][0], img)
    for k, d in enumerate((0, 1, 2)):
        # VLASH Sec. 4.2: state and target chunk shifted together, observation fixed at o_t.
        raw_state = norm.unnormalize_state(item["states"][k].double()).numpy()
        np.testing.assert_allclose(raw_state, ep.states[1 + d], atol=1e-5)
        raw = norm.unnormalize_action(
            item["actions"][k].double(), torch.from_numpy(ep.states[1 + d])
        ).numpy()
        n_valid = min(4, 6 - (1 + d))
        np.testing.assert_allclose(raw[:n_valid], ep.actions[1 + d : 1 + d + n_valid], atol=1e-5)
        assert item["valid"][k].tolist() == [True] * n_valid + [False] * (4 - n_valid)


def test_single_random_offset_is_reproducible_and_changes_with_epoch():
    ds, _, _ = _dataset(shared=False, max_offset=3, seed=5)
    first = [int(ds[i]["offsets"][0]) for i in range(len(ds))]
    assert all(0 <= d <= 3 for d in first)
    assert [int(ds[i]["offsets"][0]) for i in range(len(ds))] == first
    ds.set_epoch(1)
    assert [int(ds[i]["offsets"][0]) for i in range(len(ds))] != first
    assert ds[0]["states"].shape == (1, 3)


def test_collate_shapes_and_padding():
    ds, _, _ = _dataset(shared=True)
    ds.tokenize = lambda text: list(range(1, len(text) - 10))
    batch = collate([ds[0], ds[7]], pad_token_id=0)
    assert isinstance(batch, TrainingBatch)
    assert batch.images.shape == (2, 1, 3, 8, 8)
    assert batch.states.shape == (2, 3, 3)
    assert batch.actions.shape == (2, 3, 4, 3)
    assert batch.valid.shape == (2, 3, 4) and batch.valid.dtype == torch.bool
    assert batch.offsets.tolist() == [[0, 1, 2], [0, 1, 2]]
    lengths = batch.attention_mask.sum(1).tolist()
    assert lengths == [len(ds.episodes[e].instruction) - 11 for e in (0, 1)]
    for row, n in zip(batch.input_ids, lengths, strict=True):
        assert row[n:].eq(0).all() and row[:n].ne(0).all()
    assert batch.to("cpu").input_ids.equal(batch.input_ids)


def test_resizes_to_the_model_image_size():
    ds, eps, _ = _dataset(shared=True, image_size=4)
    images = ds[0]["images"]
    assert images.shape == (1, 3, 4, 4)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # antialiased 2x downsampling of an 8x8 frame averages 2x2 blocks
    full = torch.from_numpy(eps[0].images["front"][0]).permute(2, 0, 1).float() / 255
    block = full[:, 2:4, 2:4].mean(dim=(1, 2))
    torch.testing.assert_close(images[0, :, 1, 1], block, atol=0.1, rtol=0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        _dataset(shared=True, horizon=0)
    with pytest.raises(TypeError, match="shared_observation must be bool"):
        _dataset(shared=1)
    ds, _, _ = _dataset(shared=True)
    with pytest.raises(IndexError, match="index must be in"):
        ds[len(ds)]
    with pytest.raises(ValueError, match="empty"):
        collate([])
