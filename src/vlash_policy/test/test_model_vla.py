"""FlowVLA: KV-cache reuse, packed shared-observation training, SFM/rater/AFM inference."""

from __future__ import annotations

import pytest
import torch

from asyncvla_refiner.flow_matching import sample_sfm
from vlash_policy.data.batching import TrainingBatch
from vlash_policy.model import FlowNoise, FlowVLA, Observation, VLAConfig, tiny


def tiny_config(**overrides) -> VLAConfig:
    # A fixed vocabulary: these tests feed token ids directly, without a tokenizer.
    config = tiny.tiny_config(**overrides)
    config.text_config["vocab_size"] = 20
    return config


def make_model(**overrides) -> FlowVLA:
    torch.manual_seed(0)
    return FlowVLA(tiny_config(**overrides)).eval()


def observation(batch: int = 2) -> Observation:
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(batch, 2, 3, 32, 32, generator=gen)
    ids = torch.randint(2, 20, (batch, 4), generator=gen)
    mask = torch.ones(batch, 4, dtype=torch.bool)
    mask[0, 2:] = False  # instructions of different lengths: row 0 is padded
    ids[~mask] = 0
    return Observation(images, ids, mask)


def test_cached_and_uncached_paths_give_same_actions():
    model = make_model()
    obs = observation()
    gen = torch.Generator().manual_seed(2)
    state = torch.randn(2, 2, generator=gen)
    noise = torch.randn(2, 5, 3, generator=gen)
    afm_noise = torch.randn(2, 5, 3, generator=gen)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        probe = model.sample(prefix, state, noise, refine=False).actions
        threshold = float(model.confidence(prefix, state, probe).median()) + 1e-4
        cached = model.sample(prefix, state, noise, threshold=threshold, afm_noise=afm_noise)
        uncached = model.sample(obs, state, noise, threshold=threshold, afm_noise=afm_noise)
    assert cached.refined_mask.any()
    torch.testing.assert_close(cached.actions, uncached.actions, atol=1e-5, rtol=0)
    assert torch.equal(cached.refined_mask, uncached.refined_mask)


def test_refine_false_is_plain_sfm():
    model = make_model()
    obs = observation()
    state = torch.randn(2, 2)
    noise = torch.randn(2, 5, 3)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        result = model.sample(prefix, state, noise, refine=False)
        expected = sample_sfm(lambda x, t: model.velocity(prefix, state, x, t), noise, num_steps=3)
    assert result.confidence is None and result.refined_mask is None
    assert result.timings.rater_s == 0.0 and result.timings.afm_s == 0.0
    torch.testing.assert_close(result.actions, expected, atol=0, rtol=0)


def test_afm_changes_exactly_the_tokens_the_rater_masks():
    model = make_model()
    obs = observation()
    state = torch.randn(2, 2)
    noise = torch.randn(2, 5, 3)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        sfm = model.sample(prefix, state, noise, refine=False).actions
        confidence = model.confidence(prefix, state, sfm)
        threshold = float(confidence.median()) + 1e-4
        result = model.sample(prefix, state, noise, threshold=threshold)
    mask = result.refined_mask
    torch.testing.assert_close(result.confidence, confidence)
    assert torch.equal(mask, confidence < threshold)
    assert mask.any() and (~mask).any()
    assert torch.equal(result.actions[~mask], sfm[~mask])
    assert (result.actions[mask] != sfm[mask]).all(dim=-1).all()


def test_no_masked_token_returns_the_sfm_chunk():
    model = make_model()
    obs = observation()
    state, noise = torch.randn(2, 2), torch.randn(2, 5, 3)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        sfm = model.sample(prefix, state, noise, refine=False).actions
        low = float(model.confidence(prefix, state, sfm).min()) - 1e-4
        result = model.sample(prefix, state, noise, threshold=max(low, 1e-6))
    assert not result.refined_mask.any()
    assert torch.equal(result.actions, sfm)


def test_velocity_ignores_instruction_padding():
    model = make_model()
    obs = observation()
    gen = torch.Generator().manual_seed(3)
    state = torch.randn(2, 2, generator=gen)
    x = torch.randn(2, 5, 3, generator=gen)
    t = torch.rand(2, 5, generator=gen)
    with torch.no_grad():
        batched = model.velocity(
            model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask), state, x, t
        )
        alone = model.velocity(
            model.encode_prefix(obs.images[:1], obs.input_ids[:1, :2], obs.attention_mask[:1, :2]),
            state[:1],
            x[:1],
            t[:1],
        )
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=0)


def test_packed_branches_are_independent_and_use_the_state():
    model = make_model()
    obs = observation()
    gen = torch.Generator().manual_seed(4)
    state = torch.randn(2, 3, 2, generator=gen)
    x = torch.randn(2, 3, 5, 3, generator=gen)
    t = torch.rand(2, 3, 5, generator=gen)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        base = model.velocity(prefix, state, x, t)
        x2, state2 = x.clone(), state.clone()
        x2[:, 1] += 1.0
        state2[:, 1] += 1.0
        changed = model.velocity(prefix, state2, x2, t)
        only_state = state.clone()
        only_state[:, 2] += 1.0
        state_changed = model.velocity(prefix, only_state, x, t)
    torch.testing.assert_close(changed[:, [0, 2]], base[:, [0, 2]], atol=1e-6, rtol=0)
    assert not torch.allclose(changed[:, 1], base[:, 1])
    assert not torch.allclose(state_changed[:, 2], base[:, 2])


def training_batch(branches: int = 3) -> tuple[TrainingBatch, FlowNoise]:
    obs = observation()
    gen = torch.Generator().manual_seed(5)
    valid = torch.ones(2, branches, 5, dtype=torch.bool)
    valid[1, -1, 3:] = False  # the last branch runs past the episode end
    batch = TrainingBatch(
        images=obs.images,
        input_ids=obs.input_ids,
        attention_mask=obs.attention_mask,
        states=torch.randn(2, branches, 2, generator=gen),
        actions=torch.randn(2, branches, 5, 3, generator=gen),
        valid=valid,
        offsets=torch.arange(branches).expand(2, branches),
    )
    mask = torch.rand(2, branches, 5, generator=gen) < 0.6
    mask[0, 0] = True  # one pure-SFM branch
    flow = FlowNoise(
        noise=torch.randn(2, branches, 5, 3, generator=gen),
        tau=torch.rand(2, branches, generator=gen),
        mask=mask,
    )
    return batch, flow


def _loss_and_grads(model: FlowVLA, batch, flow, packed: bool):
    model.zero_grad()
    loss = model.training_loss(batch, packed=packed, flow_noise=flow)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def test_packed_training_matches_unpacked_loss_and_gradients():
    model = make_model().train()
    batch, flow = training_batch()
    packed_loss, packed_grads = _loss_and_grads(model, batch, flow, packed=True)
    loss, grads = _loss_and_grads(model, batch, flow, packed=False)
    torch.testing.assert_close(packed_loss, loss, atol=1e-5, rtol=0)
    assert packed_grads.keys() == grads.keys()
    assert any(n.startswith("backbone.vision") for n in grads)
    assert any(n.startswith("expert.") for n in grads)
    assert not any(FlowVLA.is_rater_parameter(n) for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(packed_grads[name], grad, atol=1e-5, rtol=0, msg=name)


def test_training_loss_is_masked_velocity_mse():
    model = make_model()
    batch, flow = training_batch(branches=1)
    with torch.no_grad():
        loss = model.training_loss(batch, flow_noise=flow)
        prefix = model.encode_prefix(batch.images, batch.input_ids, batch.attention_mask)
        a, n, m = batch.actions[:, 0], flow.noise[:, 0], flow.mask[:, 0]
        tau = flow.tau[:, 0, None]
        noisy = a - (tau * m)[..., None] * (a - n)  # AsyncVLA Eq. (5)
        v = model.velocity(prefix, batch.states[:, 0], noisy, tau * m)
        keep = m & batch.valid[:, 0]
        expected = ((v - (n - a)) ** 2)[keep].sum() / (keep.sum() * 3)
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-6)


def test_rater_loss_trains_only_the_rater():
    model = make_model().train()
    batch, _ = training_batch()
    loss = model.rater_loss(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all(FlowVLA.is_rater_parameter(n) for n in with_grad)
    assert torch.isfinite(loss)


def test_llama_text_backbone_runs():
    cfg = tiny_config()
    text = dict(cfg.text_config, model_type="llama")
    model = make_model(text_config=text)
    obs = observation()
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        result = model.sample(prefix, torch.zeros(2, 2), torch.randn(2, 5, 3))
    assert type(model.backbone.lm).__name__ == "LlamaModel"
    assert result.actions.shape == (2, 5, 3) and torch.isfinite(result.actions).all()


def test_input_checks_name_the_argument():
    model = make_model()
    obs = observation()
    with pytest.raises(ValueError, match="images"):
        model.encode_prefix(obs.images[:, :1], obs.input_ids, obs.attention_mask)
    with pytest.raises(ValueError, match="attention_mask"):
        model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask[:, :2])
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        with pytest.raises(ValueError, match="noise"):
            model.sample(prefix, torch.zeros(2, 2), torch.randn(2, 4, 3))
        with pytest.raises(ValueError, match="state"):
            model.velocity(prefix, torch.zeros(2, 3), torch.randn(2, 5, 3), torch.rand(2, 5))
    with pytest.raises(ValueError, match="joint_names"):
        tiny_config(joint_names=["a"])


def test_rater_reads_the_state_the_chunk_was_generated_from():
    model = make_model()
    obs = observation()
    state = torch.randn(2, 2)
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        chunk = model.sample(prefix, state, torch.randn(2, 5, 3), refine=False).actions
        base = model.confidence(prefix, state, chunk)
        moved = model.confidence(prefix, state + 1.0, chunk)
    assert not torch.allclose(base, moved, atol=1e-4)
    with pytest.raises(ValueError, match="state must be"):
        model.confidence(prefix, state[:, :1], chunk)


def test_conv_stem_keeps_the_token_grid_and_rebuilds_from_its_config():
    model = make_model(vision_stem="conv")
    obs = observation()
    with torch.no_grad():
        prefix = model.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
        reference = make_model().encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
    assert prefix.hidden.shape == reference.hidden.shape
    stem = model.backbone.vision.embeddings.patch_embedding
    assert sum(isinstance(m, torch.nn.Conv2d) for m in stem.modules()) == 4  # 16 px = 2^4
    rebuilt = FlowVLA(VLAConfig.from_dict(model.config.to_dict())).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        again = rebuilt.encode_prefix(obs.images, obs.input_ids, obs.attention_mask)
    torch.testing.assert_close(again.hidden, prefix.hidden, atol=0, rtol=0)


def test_conv_stem_is_refused_for_pretrained_families():
    with pytest.raises(ValueError, match="vision_stem"):
        VLAConfig(
            backbone_family="paligemma", vlm_config={"model_type": "paligemma"}, vision_stem="conv"
        )
    with pytest.raises(ValueError, match="vision_stem must be one of"):
        VLAConfig(vision_stem="resnet")
