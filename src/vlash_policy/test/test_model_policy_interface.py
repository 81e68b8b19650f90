"""FlowVLAPolicy: the node-facing chunk interface on a checkpoint directory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vlash_policy.data.normalization import FeatureStats, NormalizationStats
from vlash_policy.model import VLAConfig, tiny
from vlash_policy.model.checkpoint import build_default_model, save_checkpoint
from vlash_policy.policy_interface import ChunkPolicy, FlowVLAPolicy

H, D = 5, 3


def tiny_config() -> VLAConfig:
    return tiny.tiny_config(action_dim=D, state_dim=D, horizon=H)


def _stats(mean: list[float], std: list[float]) -> FeatureStats:
    return FeatureStats(np.array(mean), np.array(std), -np.ones(3), np.ones(3), 5)


STATS = NormalizationStats(
    state=_stats([0.1, 0.2, 0.3], [2.0, 3.0, 4.0]),
    action=_stats([1.0, -1.0, 0.5], [0.5, 2.0, 3.0]),
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model, tokenizer = build_default_model(tiny_config())
    directory = tmp_path_factory.mktemp("ckpt")
    return save_checkpoint(model, directory, tokenizer=tokenizer, normalization=STATS)


def frames(size: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        name: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for name in ("front", "wrist")
    }


STATE = np.array([0.5, -0.2, 1.0])


def test_chunk_is_the_unnormalised_model_sample(checkpoint):
    policy = FlowVLAPolicy(checkpoint, threshold=0.6, seed=3)
    assert isinstance(policy, ChunkPolicy)
    chunk = policy.predict_chunk(frames(), "pick up the red cube", STATE)

    gen = torch.Generator().manual_seed(3)
    noise, afm_noise = torch.randn(1, H, D, generator=gen), torch.randn(1, H, D, generator=gen)
    imgs = frames()
    pixels = torch.stack(
        [torch.from_numpy(imgs[n]).permute(2, 0, 1).float() / 255.0 for n in ("front", "wrist")]
    )[None]
    enc = policy.tokenizer(["pick up the red cube"], return_tensors="pt")
    state = torch.tensor((STATE - [0.1, 0.2, 0.3]) / [2.0, 3.0, 4.0], dtype=torch.float32)[None]
    with torch.no_grad():
        prefix = policy.model.encode_prefix(pixels, enc["input_ids"], enc["attention_mask"])
        result = policy.model.sample(prefix, state, noise, threshold=0.6, afm_noise=afm_noise)
    expected = result.actions[0].double().numpy() * [0.5, 2.0, 3.0] + [1.0, -1.0, 0.5]
    np.testing.assert_allclose(chunk.actions, expected, atol=1e-5)
    np.testing.assert_array_equal(chunk.refined, chunk.confidence < 0.6)
    draft = result.draft[0].double().numpy() * [0.5, 2.0, 3.0] + [1.0, -1.0, 0.5]
    np.testing.assert_allclose(chunk.draft, draft, atol=1e-5)
    # AFM regenerates the masked tokens only; the confident ones are the draft's.
    kept = ~chunk.refined
    np.testing.assert_array_equal(chunk.actions[kept], chunk.draft[kept])
    timing = chunk.timing
    assert timing.total_s >= timing.prefix_s + timing.sfm_s + timing.rater_s + timing.afm_s


def test_refinement_off_returns_no_confidence(checkpoint):
    policy = FlowVLAPolicy(checkpoint, refine=False)
    chunk = policy.predict_chunk(frames(), "open the drawer", STATE)
    assert chunk.actions.shape == (H, D)
    assert chunk.confidence is None and chunk.refined is None and chunk.draft is None
    assert chunk.timing.rater_s == 0.0 and chunk.timing.afm_s == 0.0


def test_relative_actions_are_unnormalised_around_the_conditioning_state(tmp_path):
    torch.manual_seed(0)
    model, tokenizer = build_default_model(tiny_config())
    relative = dataclasses.replace(STATS, relative_actions=True)
    directory = save_checkpoint(
        model, tmp_path / "rel", tokenizer=tokenizer, normalization=relative
    )
    policy = FlowVLAPolicy(directory, refine=False, seed=1)
    chunk = policy.predict_chunk(frames(), "open the drawer", STATE)
    plain = dataclasses.replace(STATS, relative_actions=False)
    save_checkpoint(model, tmp_path / "abs", tokenizer=tokenizer, normalization=plain)
    reference = FlowVLAPolicy(tmp_path / "abs", refine=False, seed=1)
    expected = reference.predict_chunk(frames(), "open the drawer", STATE).actions + STATE
    np.testing.assert_allclose(chunk.actions, expected, atol=1e-9)


def test_frames_of_another_size_are_resized(checkpoint):
    policy = FlowVLAPolicy(checkpoint)
    chunk = policy.predict_chunk(frames(48), "open the drawer", STATE)
    assert chunk.actions.shape == (H, D) and np.isfinite(chunk.actions).all()


def test_rtc_without_guidance_equals_sfm(checkpoint):
    previous = np.ones((4, D))
    rtc = FlowVLAPolicy(checkpoint, rtc_beta_max=0.0, seed=1).predict_chunk(
        frames(), "grasp the cube", STATE, previous_chunk=previous, strategy="rtc", delay_steps=2
    )
    sfm = FlowVLAPolicy(checkpoint, refine=False, seed=1).predict_chunk(
        frames(), "grasp the cube", STATE
    )
    np.testing.assert_allclose(rtc.actions, sfm.actions, atol=1e-5)
    assert rtc.confidence is None and rtc.refined is None


def test_rtc_without_a_previous_chunk_is_unrefined_sfm(checkpoint):
    first = FlowVLAPolicy(checkpoint, seed=2).predict_chunk(
        frames(), "grasp the cube", STATE, strategy="rtc", delay_steps=2
    )
    sfm = FlowVLAPolicy(checkpoint, refine=False, seed=2).predict_chunk(
        frames(), "grasp the cube", STATE
    )
    np.testing.assert_array_equal(first.actions, sfm.actions)
    assert first.refined is None


def test_rtc_guidance_pulls_the_frozen_prefix_toward_the_previous_chunk(checkpoint):
    sfm = FlowVLAPolicy(checkpoint, refine=False, seed=1).predict_chunk(
        frames(), "grasp the cube", STATE
    )
    previous = sfm.actions[:4] + 3.0  # far from what the model would produce on its own
    rtc = FlowVLAPolicy(checkpoint, rtc_beta_max=5.0, seed=1).predict_chunk(
        frames(), "grasp the cube", STATE, previous_chunk=previous, strategy="rtc", delay_steps=2
    )
    # A longer previous chunk is cut to H and a delay beyond the overlap clamped to it.
    long = np.concatenate([previous, np.zeros((6, D))])
    clamped = FlowVLAPolicy(checkpoint, rtc_beta_max=5.0, seed=1).predict_chunk(
        frames(), "grasp the cube", STATE, previous_chunk=long, strategy="rtc", delay_steps=9
    )
    assert clamped.actions.shape == (H, D) and np.isfinite(clamped.actions).all()
    guided = np.abs(rtc.actions[:2] - previous[:2]).mean()
    unguided = np.abs(sfm.actions[:2] - previous[:2]).mean()
    assert guided < unguided


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": "fast"}, "unknown switching strategy"),
        ({"strategy": "rtc", "previous_chunk": np.zeros((4, D + 1))}, "previous_chunk must have"),
        ({"delay_steps": -1}, "delay_steps"),
    ],
)
def test_bad_arguments(checkpoint, kwargs, match):
    policy = FlowVLAPolicy(checkpoint)
    with pytest.raises(ValueError, match=match):
        policy.predict_chunk(frames(), "open", STATE, **kwargs)


def test_bad_inputs_are_named(checkpoint):
    policy = FlowVLAPolicy(checkpoint)
    with pytest.raises(ValueError, match="wrist"):
        policy.predict_chunk({"front": frames()["front"]}, "open", STATE)
    with pytest.raises(ValueError, match=r"images\['front'\]"):
        policy.predict_chunk(
            {"front": np.zeros((32, 32, 3)), "wrist": frames()["wrist"]}, "open", STATE
        )
    with pytest.raises(ValueError, match="state must have shape"):
        policy.predict_chunk(frames(), "open", np.zeros(4))
    with pytest.raises(ValueError, match="threshold"):
        FlowVLAPolicy(checkpoint, threshold=1.5)


def test_config_fields_reach_the_node(checkpoint):
    policy = FlowVLAPolicy(checkpoint)
    assert policy.horizon == H and policy.action_dim == D
    assert policy.camera_names == ["front", "wrist"]
    assert policy.action_space.name == dataclasses.asdict(tiny_config())["action_space"].upper()


def _reference(policy: FlowVLAPolicy, seed: int, instruction: str):
    """Prefix, state, SFM draft and AFM noise as predict_chunk draws them with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    noise, afm_noise = torch.randn(1, H, D, generator=gen), torch.randn(1, H, D, generator=gen)
    imgs = frames()
    pixels = torch.stack(
        [torch.from_numpy(imgs[n]).permute(2, 0, 1).float() / 255.0 for n in ("front", "wrist")]
    )[None]
    enc = policy.tokenizer([instruction], return_tensors="pt")
    state = torch.tensor((STATE - [0.1, 0.2, 0.3]) / [2.0, 3.0, 4.0], dtype=torch.float32)[None]
    with torch.no_grad():
        prefix = policy.model.encode_prefix(pixels, enc["input_ids"], enc["attention_mask"])
        draft = policy.model.sample(prefix, state, noise, refine=False).actions
    return prefix, state, draft, afm_noise, gen


def test_random_mask_refines_a_bernoulli_mask_without_the_rater(checkpoint):
    """AsyncVLA Table 4 "w/o Confidence Rater": AFM on tokens drawn with probability p."""
    from asyncvla_refiner.afm import sample_afm

    policy = FlowVLAPolicy(checkpoint, seed=4, random_mask_p=0.5)
    chunk = policy.predict_chunk(frames(), "open the drawer", STATE)
    prefix, state, draft, afm_noise, gen = _reference(policy, 4, "open the drawer")
    mask = torch.rand(1, H, generator=gen) < 0.5
    with torch.no_grad():
        refined = sample_afm(
            lambda x, t: policy.model.velocity(prefix, state, x, t),
            draft,
            mask,
            afm_noise,
            num_steps=policy.num_steps,
        )
    expected = refined[0].double().numpy() * [0.5, 2.0, 3.0] + [1.0, -1.0, 0.5]
    np.testing.assert_allclose(chunk.actions, expected, atol=1e-5)
    np.testing.assert_array_equal(chunk.refined, mask[0].numpy())
    assert chunk.confidence is None and chunk.timing.rater_s == 0.0


@pytest.mark.parametrize(("p", "changed"), [(0.0, False), (1.0, True)])
def test_random_mask_extremes(checkpoint, p, changed):
    """p = 0 leaves the SFM draft; p = 1 regenerates every token."""
    policy = FlowVLAPolicy(checkpoint, seed=2, random_mask_p=p)
    chunk = policy.predict_chunk(frames(), "open", STATE)
    _, _, draft, _, _ = _reference(policy, 2, "open")
    sfm = draft[0].double().numpy() * [0.5, 2.0, 3.0] + [1.0, -1.0, 0.5]
    assert chunk.refined.all() == changed and (not chunk.refined.any()) != changed
    assert (not np.allclose(chunk.actions, sfm, atol=1e-5)) == changed


def test_reseed_repeats_the_chunk_and_bad_p_is_named(checkpoint):
    policy = FlowVLAPolicy(checkpoint, seed=1)
    first = policy.predict_chunk(frames(), "open", STATE).actions
    assert not np.allclose(policy.predict_chunk(frames(), "open", STATE).actions, first)
    policy.reseed(1)
    np.testing.assert_array_equal(policy.predict_chunk(frames(), "open", STATE).actions, first)
    with pytest.raises(ValueError, match="random_mask_p"):
        FlowVLAPolicy(checkpoint, random_mask_p=1.5)
