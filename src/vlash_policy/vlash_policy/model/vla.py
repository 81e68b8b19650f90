"""Flow-matching VLA with a KV-cached prefix, SFM -> confidence rater -> AFM inference.

Architecture (π0 layout with AsyncVLA's action embedding):

* prefix = camera image tokens + instruction tokens, run once through the backbone LM with
  bidirectional attention (padding masked); it yields the per-layer KV cache and the final hidden
  states (the VL context of the confidence rater, AsyncVLA Sec. 3.2);
* suffix = per offset branch one state token and H action tokens built by the asynchronous time
  embedding (AsyncVLA Sec. 3.1); the action expert attends to [prefix KV ; suffix KV] under the
  VLASH Fig. 4 mask (``vlash_policy.packing``), so one code path serves inference (one branch)
  and shared-observation training (Δmax + 1 branches behind one prefix, VLASH Sec. 4.3);
* inference (AsyncVLA Fig. 2): SFM with ``num_steps`` Euler steps, the rater's mask
  m_l = 1{p_l < T} (Eq. (3)), then AFM regenerates the masked tokens (Algorithm 1), all reusing
  the one prefix cache;
* training: the unified SFM/AFM loss (Algorithm 2, Eq. (4), (5)) on every branch; stage 2
  trains the rater on pseudo labels from the frozen policy's SFM chunks (Eq. (6)).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from asyncvla_refiner.afm import sample_afm
from asyncvla_refiner.confidence_rater import (
    ConfidenceRater,
    per_token_error,
    pseudo_labels,
    refinement_mask,
)
from asyncvla_refiner.confidence_rater import rater_loss as rater_mse
from asyncvla_refiner.flow_matching import sample_sfm, sample_time
from asyncvla_refiner.time_embedding import AsyncTimeEmbedding
from asyncvla_refiner.unified_loss import (
    noisy_actions,
    sample_token_mask,
    unified_flow_matching_loss,
)
from vlash_policy.data.batching import TrainingBatch
from vlash_policy.model.backbone import Backbone, build_backbone
from vlash_policy.model.config import VLAConfig
from vlash_policy.model.expert import ActionExpert
from vlash_policy.packing import PackedLayout, dense_mask


@dataclass
class Observation:
    """One batch of raw prefix inputs.

    Attributes:
        images: (B, N_cam, 3, H, W) float in [0, 1].
        input_ids: (B, T) instruction token ids, right-padded.
        attention_mask: (B, T) 1/True for real tokens, 0/False for padding.
    """

    images: Tensor
    input_ids: Tensor
    attention_mask: Tensor


@dataclass
class Prefix:
    """The encoded observation: what every velocity evaluation of one chunk reuses.

    Attributes:
        keys, values: per LM layer (B, Hkv, P, head_dim), keys already RoPE-rotated.
        hidden: (B, P, hidden) final LM hidden states (the rater's VL context).
        valid: (B, P) bool, False at instruction padding.
        encode_s: wall time spent encoding, seconds.
    """

    keys: tuple[Tensor, ...]
    values: tuple[Tensor, ...]
    hidden: Tensor
    valid: Tensor
    encode_s: float
    # Suffix geometry (attention mask, RoPE tables) per (branches, horizon): it depends only on
    # the prefix, so the velocity evaluations of one chunk build it once.
    _geometry: dict[tuple[int, int], tuple[Tensor, Tensor, Tensor]] = field(
        default_factory=dict, repr=False
    )

    @property
    def length(self) -> int:
        return self.hidden.shape[1]


@dataclass
class InferenceTiming:
    """Wall time of each inference stage of one chunk, seconds (AsyncVLA Table 6 breakdown)."""

    total_s: float
    prefix_s: float
    sfm_s: float
    rater_s: float
    afm_s: float


@dataclass
class SampleResult:
    """Output of :meth:`FlowVLA.sample` (normalised action space).

    Attributes:
        actions: (B, H, D) final chunk.
        confidence: (B, H) rater output p_l, None when refinement is off.
        refined_mask: (B, H) bool, True where AFM regenerated the token; None when off.
        timings: per-stage wall times.
        draft: (B, H, D) the SFM chunk the rater scored; None when refinement is off.
    """

    actions: Tensor
    confidence: Tensor | None
    refined_mask: Tensor | None
    timings: InferenceTiming
    draft: Tensor | None = None


@dataclass
class FlowNoise:
    """Explicit randomness of one training step (for reproducible / equivalence checks).

    Attributes:
        noise: (B, K, H, D) n.
        tau: (B, K) FM time per branch.
        mask: (B, K, H) bool unified SFM/AFM token mask m.
    """

    noise: Tensor
    tau: Tensor
    mask: Tensor


class FlowVLA(nn.Module):
    """Backbone + action expert + confidence rater; see the module docstring."""

    # Top-level modules trained in the rater stage (AsyncVLA Sec. 3.3 stage 2) and only there.
    RATER_MODULES: tuple[str, ...] = ("rater", "rater_state_proj")

    @classmethod
    def is_rater_parameter(cls, name: str) -> bool:
        """Whether parameter ``name`` (as in ``named_parameters``) belongs to the rater."""
        return name.split(".", 1)[0] in cls.RATER_MODULES

    def __init__(self, config: VLAConfig, backbone: Backbone | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.backbone = backbone or build_backbone(
            config.backbone_family,
            vision_config=config.vision_config,
            text_config=config.text_config,
            vlm_config=config.vlm_config,
            vision_stem=config.vision_stem,
        )
        bb = self.backbone
        width = config.expert_width
        self.state_proj = nn.Linear(config.state_dim, width)
        self.action_embedding = AsyncTimeEmbedding(action_dim=config.action_dim, hidden_size=width)
        self.expert = ActionExpert(
            num_layers=bb.num_layers,
            width=width,
            mlp_width=config.expert_mlp_width,
            num_heads=bb.num_heads,
            num_kv_heads=bb.num_kv_heads,
            head_dim=bb.head_dim,
        )
        self.velocity_head = nn.Linear(width, config.action_dim)
        # The rater judges a chunk against the state it was generated from (AsyncVLA's rater
        # reads the whole observation): with VLASH offsets that is the rolled-forward state,
        # which reaches neither the image nor the instruction tokens.
        self.rater_state_proj = nn.Linear(config.state_dim, bb.hidden_size)
        self.rater = ConfidenceRater(
            context_dim=bb.hidden_size,
            action_dim=config.action_dim,
            hidden_size=config.rater_hidden,
            num_layers=config.rater_layers,
            num_heads=config.rater_heads,
            max_chunk_length=config.horizon,
        )
        self.register_buffer(
            "image_mean", torch.tensor(config.image_mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "image_std", torch.tensor(config.image_std).view(1, 3, 1, 1), persistent=False
        )

    # ------------------------------------------------------------------ prefix
    def encode_prefix(self, images: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Prefix:
        """Run [image tokens ; instruction tokens] once through the LM, bidirectionally.

        Padded instruction tokens are masked as keys. Position ids count real tokens only, so the
        result does not depend on how much padding a batch carries.
        """
        start = time.perf_counter()
        cfg = self.config
        if images.dim() != 5 or images.shape[1:3] != (cfg.num_cameras, 3):
            raise ValueError(
                f"images must be (B, {cfg.num_cameras}, 3, H, W), got {tuple(images.shape)}"
            )
        if images.shape[-2:] != (cfg.image_size, cfg.image_size):
            raise ValueError(
                f"images must be {cfg.image_size}x{cfg.image_size}, got {tuple(images.shape[-2:])}"
            )
        batch = images.shape[0]
        if input_ids.dim() != 2 or input_ids.shape[0] != batch:
            raise ValueError(f"input_ids must be (B={batch}, T), got {tuple(input_ids.shape)}")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} must equal input_ids shape "
                f"{tuple(input_ids.shape)}"
            )
        pixels = images.flatten(0, 1).to(self.image_mean.dtype)
        pixels = (pixels - self.image_mean) / self.image_std
        image_tokens = self.backbone.embed_images(pixels)
        image_tokens = image_tokens.reshape(batch, -1, image_tokens.shape[-1])
        text_tokens = self.backbone.embed_text(input_ids)
        tokens = torch.cat([image_tokens, text_tokens.to(image_tokens.dtype)], dim=1)
        valid = torch.cat(
            [
                torch.ones(image_tokens.shape[:2], dtype=torch.bool, device=tokens.device),
                attention_mask.to(device=tokens.device, dtype=torch.bool),
            ],
            dim=1,
        )
        length = tokens.shape[1]
        positions = (valid.long().cumsum(dim=1) - 1).clamp(min=0)
        # A padded query row may see only itself: a row with no allowed key would give NaN
        # outputs, which later layers would mix into the (masked-but-multiplied) values.
        eye = torch.eye(length, dtype=torch.bool, device=tokens.device)
        mask = valid[:, None, None, :] | eye[None, None]
        out = self.backbone.lm(
            inputs_embeds=tokens, attention_mask=mask, position_ids=positions, use_cache=True
        )
        cache = out.past_key_values
        keys = tuple(layer.keys for layer in cache.layers)
        values = tuple(layer.values for layer in cache.layers)
        return Prefix(keys, values, out.last_hidden_state, valid, time.perf_counter() - start)

    # ------------------------------------------------------------------ velocity
    def velocity(
        self, prefix: Prefix, state: Tensor, noisy_actions: Tensor, token_time: Tensor
    ) -> Tensor:
        """FM velocity V_θ(o, ℓ, s, â^τ) for one or several offset branches sharing ``prefix``.

        Args:
            prefix: the encoded observation (B rows).
            state: (B, state_dim) or (B, K, state_dim).
            noisy_actions: (B, H, D) or (B, K, H, D).
            token_time: per-token FM time τ·m, (B, H) or (B, K, H).

        Returns the velocity with the shape of ``noisy_actions``. Branch k attends to the prefix
        and to itself only, with positions restarting after the prefix (VLASH Fig. 4).
        """
        single = noisy_actions.dim() == 3
        if single:
            state, noisy_actions, token_time = (
                state[:, None],
                noisy_actions[:, None],
                token_time[:, None],
            )
        if noisy_actions.dim() != 4:
            raise ValueError(
                f"noisy_actions must be (B, H, D) or (B, K, H, D), got {tuple(noisy_actions.shape)}"
            )
        batch, branches, horizon, action_dim = noisy_actions.shape
        if batch != prefix.hidden.shape[0]:
            raise ValueError(f"batch {batch} != prefix batch {prefix.hidden.shape[0]}")
        if tuple(state.shape) != (batch, branches, self.config.state_dim):
            raise ValueError(
                f"state must be (B, K, state_dim) = {(batch, branches, self.config.state_dim)}, "
                f"got {tuple(state.shape)}"
            )
        if tuple(token_time.shape) != (batch, branches, horizon):
            raise ValueError(
                f"token_time must be (B, K, H) = {(batch, branches, horizon)}, "
                f"got {tuple(token_time.shape)}"
            )
        dtype = prefix.hidden.dtype
        state_tokens = self.state_proj(state.to(dtype))[:, :, None]
        action_tokens = self.action_embedding(
            noisy_actions.reshape(batch * branches, horizon, action_dim).to(dtype),
            token_time.reshape(batch * branches, horizon),
        ).view(batch, branches, horizon, -1)
        suffix = torch.cat([state_tokens, action_tokens], dim=2).flatten(1, 2)

        mask, cos, sin = self._suffix_geometry(prefix, branches, horizon, suffix)
        hidden = self.expert(suffix, cos, sin, prefix.keys, prefix.values, mask)
        hidden = hidden.view(batch, branches, horizon + 1, -1)[:, :, 1:]
        velocity = self.velocity_head(hidden).to(noisy_actions.dtype)
        return velocity[:, 0] if single else velocity

    def _suffix_geometry(
        self, prefix: Prefix, branches: int, horizon: int, suffix: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, 1, S, P + S) attention mask and (B, S, head_dim) RoPE cos/sin of the suffix.

        The mask is VLASH Fig. 4's rows for the branch tokens (``packing.dense_mask``) with the
        prefix's padded keys removed; positions restart after the real prefix tokens for every
        branch (``PackedLayout.position_ids``), so padding never shifts the suffix's RoPE.
        """
        key = (branches, horizon)
        if key not in prefix._geometry:
            batch, length, device = prefix.valid.shape[0], prefix.length, suffix.device
            layout = PackedLayout(length, (horizon + 1,) * branches)
            branch_positions = layout.position_ids()[length:].to(device) - length
            positions = prefix.valid.sum(dim=1, keepdim=True) + branch_positions[None]
            allowed = dense_mask(layout, query_offset=length, device=device)
            key_valid = torch.cat(
                [
                    prefix.valid,
                    torch.ones(batch, suffix.shape[1], dtype=torch.bool, device=device),
                ],
                dim=1,
            )
            mask = (allowed[None] & key_valid[:, None, :])[:, None]
            cos, sin = self.backbone.rotary(suffix, positions)
            prefix._geometry[key] = (mask, cos, sin)
        return prefix._geometry[key]

    def _velocity_fn(
        self, source: Prefix | Observation, state: Tensor
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """VelocityFn closure; an Observation re-encodes the prefix at every call (no KV reuse)."""
        if isinstance(source, Prefix):
            return lambda x, t: self.velocity(source, state, x, t)
        return lambda x, t: self.velocity(self._encode(source), state, x, t)

    def _encode(self, observation: Observation) -> Prefix:
        return self.encode_prefix(
            observation.images, observation.input_ids, observation.attention_mask
        )

    def _encode_batch(self, batch: TrainingBatch) -> Prefix:
        return self.encode_prefix(batch.images, batch.input_ids, batch.attention_mask)

    # ------------------------------------------------------------------ inference
    def confidence(self, prefix: Prefix, state: Tensor, actions: Tensor) -> Tensor:
        """Rater confidence p (B, H) of a chunk given the observation (AsyncVLA Sec. 3.2).

        The context is the VL prefix plus one token of the (normalised, possibly rolled-forward)
        state ``(B, state_dim)`` the chunk was generated from.
        """
        return self._rate(prefix.hidden, prefix.valid, state, actions)

    def _rate(self, hidden: Tensor, valid: Tensor, state: Tensor, actions: Tensor) -> Tensor:
        if tuple(state.shape) != (hidden.shape[0], self.config.state_dim):
            raise ValueError(
                f"state must be (B, state_dim) = {(hidden.shape[0], self.config.state_dim)}, "
                f"got {tuple(state.shape)}"
            )
        state_token = self.rater_state_proj(state.to(hidden.dtype))[:, None]
        context = torch.cat([hidden, state_token], dim=1)
        padding = torch.cat([~valid, torch.zeros_like(valid[:, :1])], dim=1)
        return self.rater(context, actions, context_padding_mask=padding)

    def sample(
        self,
        source: Prefix | Observation,
        state: Tensor,
        noise: Tensor,
        *,
        num_steps: int | None = None,
        refine: bool | None = None,
        threshold: float | None = None,
        afm_noise: Tensor | None = None,
    ) -> SampleResult:
        """SFM, then optionally the rater and AFM on the masked tokens (AsyncVLA Fig. 2).

        Args:
            source: an encoded :class:`Prefix` (KV cache reused by every step, rater and AFM)
                or an :class:`Observation` (prefix recomputed at every evaluation; the
                "without KV reuse" baseline).
            state: (B, state_dim) normalised (possibly rolled-forward) robot state.
            noise: (B, H, D) SFM starting noise.
            num_steps, refine, threshold: default to the config's values.
            afm_noise: (B, H, D) noise for the regenerated tokens (Eq. (2)); drawn if None.
        """
        cfg = self.config
        num_steps = cfg.num_steps if num_steps is None else num_steps
        refine = cfg.refine if refine is None else refine
        threshold = cfg.refine_threshold if threshold is None else threshold
        if tuple(noise.shape[1:]) != (cfg.horizon, cfg.action_dim):
            raise ValueError(
                f"noise must be (B, {cfg.horizon}, {cfg.action_dim}), got {tuple(noise.shape)}"
            )
        prefix_s = source.encode_s if isinstance(source, Prefix) else 0.0
        velocity_fn = self._velocity_fn(source, state)
        start = time.perf_counter()
        actions = sample_sfm(velocity_fn, noise, num_steps=num_steps)
        sfm_s = time.perf_counter() - start
        if not refine:
            timing = InferenceTiming(prefix_s + sfm_s, prefix_s, sfm_s, 0.0, 0.0)
            return SampleResult(actions, None, None, timing)

        start = time.perf_counter()
        prefix = source if isinstance(source, Prefix) else self._encode(source)
        confidence = self.confidence(prefix, state, actions)
        mask = refinement_mask(confidence, threshold)
        rater_s = time.perf_counter() - start

        start = time.perf_counter()
        draft = actions
        # With nothing to regenerate AFM is the identity (Algorithm 1 with m = 0); skip its steps.
        if bool(mask.any()):
            if afm_noise is None:
                afm_noise = torch.randn_like(noise)
            actions = sample_afm(velocity_fn, draft, mask, afm_noise, num_steps=num_steps)
        afm_s = time.perf_counter() - start
        timing = InferenceTiming(
            prefix_s + sfm_s + rater_s + afm_s, prefix_s, sfm_s, rater_s, afm_s
        )
        return SampleResult(actions, confidence, mask, timing, draft)

    # ------------------------------------------------------------------ training
    def draw_flow_noise(
        self,
        batch: TrainingBatch,
        *,
        generator: torch.Generator | None = None,
        sfm_probability: float = 0.0,
    ) -> FlowNoise:
        """Sample n, τ ~ Beta(1.5, 1) and the unified mask m per branch (Algorithm 2, l. 4-5).

        ``sfm_probability``: share of branches with an all-ones mask (``sample_token_mask``).
        """
        b, k, h, _ = batch.actions.shape
        device = batch.actions.device
        noise = torch.randn(
            batch.actions.shape, generator=generator, device=device, dtype=batch.actions.dtype
        )
        tau = sample_time(b * k, generator=generator, device=device).view(b, k)
        mask = sample_token_mask(
            b * k, h, generator=generator, device=device, sfm_probability=sfm_probability
        ).view(b, k, h)
        return FlowNoise(noise, tau, mask)

    def training_loss(
        self,
        batch: TrainingBatch,
        *,
        packed: bool = True,
        flow_noise: FlowNoise | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Unified SFM/AFM loss (AsyncVLA Eq. (4)) over every offset branch of every sample.

        ``batch`` is a :class:`vlash_policy.data.batching.TrainingBatch` (normalised states and
        actions, K = Δmax + 1 branches per observation, ``valid`` masking padded targets).

        ``packed=True`` encodes each observation once and packs its K branches behind it (VLASH
        Sec. 4.3); ``packed=False`` runs every branch as its own (o_t, s_{t+δ}, A_{t+δ}) example,
        re-encoding o_t, which is the reference the packed path must match.
        """
        fn = flow_noise or self.draw_flow_noise(batch, generator=generator)
        b, k, h, d = batch.actions.shape
        actions = batch.actions.reshape(b * k, h, d)
        noise = fn.noise.reshape(b * k, h, d)
        mask = fn.mask.reshape(b * k, h)
        noisy = noisy_actions(actions, noise, fn.tau.reshape(b * k), mask).view(b, k, h, d)
        token_time = (fn.tau[..., None] * fn.mask.to(fn.tau.dtype)).to(batch.actions.dtype)
        if packed:
            prefix = self._encode_batch(batch)
            velocity = self.velocity(prefix, batch.states, noisy, token_time)
        else:
            velocity = torch.stack(
                [
                    self.velocity(
                        self._encode_batch(batch),
                        batch.states[:, j],
                        noisy[:, j],
                        token_time[:, j],
                    )
                    for j in range(k)
                ],
                dim=1,
            )
        return unified_flow_matching_loss(
            velocity.reshape(b * k, h, d),
            actions,
            noise,
            mask,
            valid=batch.valid.reshape(b * k, h),
        )

    def rater_loss(
        self,
        batch: TrainingBatch,
        *,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Stage-2 rater loss with the policy frozen (AsyncVLA Sec. 3.3, Eq. (6)).

        The frozen policy generates first-round SFM chunks for all K branches in one packed
        pass per Euler step; their per-token MSE against the targets gives relative pseudo
        labels q, and the rater is regressed onto q. Only rater parameters receive gradients.
        """
        b, k, h, d = batch.actions.shape
        if noise is None:
            noise = torch.randn(
                batch.actions.shape,
                generator=generator,
                device=batch.actions.device,
                dtype=batch.actions.dtype,
            )
        with torch.no_grad():
            prefix = self._encode_batch(batch)

            def packed_velocity(x: Tensor, t: Tensor) -> Tensor:
                return self.velocity(
                    prefix, batch.states, x.view(b, k, h, d), t.view(b, k, h)
                ).reshape(b, k * h, d)

            sfm = sample_sfm(
                packed_velocity, noise.reshape(b, k * h, d), num_steps=self.config.num_steps
            ).view(b * k, h, d)
        targets = batch.actions.reshape(b * k, h, d)
        valid = batch.valid.reshape(b * k, h)
        labels = pseudo_labels(per_token_error(sfm, targets), valid=valid)
        confidence = self._rate(
            prefix.hidden.repeat_interleave(k, dim=0),
            prefix.valid.repeat_interleave(k, dim=0),
            batch.states.reshape(b * k, -1),
            sfm,
        )
        return rater_mse(confidence, labels, valid=valid)
