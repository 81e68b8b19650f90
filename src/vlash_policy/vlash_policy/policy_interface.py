"""The interface the ROS policy node calls to turn one observation into one action chunk.

The node knows nothing about the network: it hands over raw camera frames, the instruction and
the (for VLASH, rolled-forward, Sec. 4.1) robot state, and gets back an unnormalised chunk in the
robot's action space plus per-stage timings. Anything implementing :class:`ChunkPolicy` can be
plugged in.

:class:`FlowVLAPolicy` implements it on a checkpoint directory of our flow-matching VLA
(:mod:`vlash_policy.model`): SFM, then the AsyncVLA confidence rater and AFM refinement (Sec. 3),
or, for the ``rtc`` strategy, Real-Time-Chunking guided sampling toward the previous chunk.

Adding another backend (e.g. a LeRobot SmolVLA or π0 policy):

1. write a class with a ``predict_chunk`` of exactly the :class:`ChunkPolicy` signature, in its
   own module, importing the third-party library there (this module must stay importable
   without it);
2. in ``predict_chunk`` build the backend's input (for LeRobot: a batch dict with
   ``observation.images.<camera>`` as float CHW tensors in [0, 1], ``observation.state`` and
   ``task``), call its chunk method (LeRobot: ``policy.predict_action_chunk(batch)``), undo the
   backend's normalisation if it does not do so itself, and return a :class:`PolicyChunk` of
   shape (H, D) with the time spent in :class:`InferenceTiming` (stages the backend does not
   have are 0.0, ``confidence``/``refined`` None);
3. reject ``strategy="rtc"`` with a ValueError if the backend cannot do guided sampling;
4. let the node choose the backend by a parameter and construct it there. No ROS import here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional torch alias

from asyncvla_refiner.afm import sample_afm
from asyncvla_refiner.rtc_guidance import prefix_weights, sample_rtc
from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_core.strategies import get_strategy
from vlash_policy.model.checkpoint import load_checkpoint
from vlash_policy.model.vla import InferenceTiming

__all__ = ["ChunkPolicy", "FlowVLAPolicy", "InferenceTiming", "PolicyChunk"]


@dataclass
class PolicyChunk:
    """One predicted chunk.

    Attributes:
        actions: (H, D) float64, unnormalised, in the robot's action space.
        confidence: (H,) rater confidence p_l (AsyncVLA Sec. 3.2), None if not computed.
        refined: (H,) bool, True where AFM regenerated the action, None if not refined.
        timing: wall time per stage; ``total_s`` is the whole ``predict_chunk`` call.
        draft: (H, D) the first-round SFM chunk that refinement started from (and the rater
            scored), unnormalised like ``actions``; None when no refinement ran.
    """

    actions: np.ndarray
    confidence: np.ndarray | None
    refined: np.ndarray | None
    timing: InferenceTiming
    draft: np.ndarray | None = None


@runtime_checkable
class ChunkPolicy(Protocol):
    """What the policy node needs from a model."""

    @property
    def horizon(self) -> int:
        """H, the number of actions in every chunk this policy predicts."""
        ...

    def predict_chunk(
        self,
        images: Mapping[str, np.ndarray],
        instruction: str,
        state: np.ndarray,
        *,
        previous_chunk: np.ndarray | None = None,
        strategy: str = "vlash",
        delay_steps: int = 0,
        execution_horizon: int | None = None,
    ) -> PolicyChunk:
        """Predict the next chunk.

        Args:
            images: camera name -> (H, W, 3) uint8 RGB frame.
            instruction: task text.
            state: (state_dim,) robot state to condition on (rolled forward for ``vlash``).
            previous_chunk: for ``rtc``, the running chunk's actions aligned with the new
                chunk's indices, (n, D), unnormalised; rows past H are ignored. None or empty
                (nothing known yet) samples without guidance.
            strategy: ``sync``, ``naive_async``, ``vlash`` or ``rtc``.
            delay_steps: inference delay d in control steps (``rtc`` frozen prefix, at most
                the overlap with ``previous_chunk``).
            execution_horizon: RTC's s; default H − n (the weights end with the previous chunk).
        """
        ...


class FlowVLAPolicy:
    """:class:`ChunkPolicy` on a :mod:`vlash_policy.model` checkpoint directory.

    Args:
        checkpoint: directory written by :func:`vlash_policy.model.checkpoint.save_checkpoint`.
        device: torch device for inference.
        refine: run the confidence rater + AFM after SFM (default: the checkpoint's config).
        threshold: T of AsyncVLA Eq. (3) (default: the checkpoint's config).
        num_steps: Euler steps per sampler (default: the checkpoint's config).
        rtc_beta_max: RTC guidance clip β.
        rtc_schedule: RTC prefix-weight schedule (``exp``, ``linear``, ``hard``).
        seed: seed of the sampling noise generator (reproducible chunks).
        random_mask_p: refine a random mask instead of the rater's: every token is regenerated
            by AFM with this probability (AsyncVLA Table 4, "w/o Confidence Rater", p = 0.5).
            None (default) uses the confidence rater's mask m_l = 1{p_l < T} (Eq. (3)).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        device: str | torch.device = "cpu",
        refine: bool | None = None,
        threshold: float | None = None,
        num_steps: int | None = None,
        rtc_beta_max: float = 5.0,
        rtc_schedule: str = "exp",
        seed: int = 0,
        random_mask_p: float | None = None,
    ) -> None:
        self.device = torch.device(device)
        loaded = load_checkpoint(checkpoint, device=self.device)
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.normalization = loaded.normalization
        self.config = loaded.config
        self.refine = self.config.refine if refine is None else bool(refine)
        self.threshold = self.config.refine_threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.num_steps = self.config.num_steps if num_steps is None else int(num_steps)
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if rtc_beta_max < 0.0:
            raise ValueError(f"rtc_beta_max must be >= 0, got {rtc_beta_max}")
        self.rtc_beta_max = float(rtc_beta_max)
        self.rtc_schedule = rtc_schedule
        if random_mask_p is not None and not 0.0 <= random_mask_p <= 1.0:
            raise ValueError(f"random_mask_p must be in [0, 1] or None, got {random_mask_p}")
        self.random_mask_p = random_mask_p
        self._generator = torch.Generator(device=self.device).manual_seed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the sampling noise (and random-mask) generator, e.g. once per episode."""
        self._generator.manual_seed(seed)

    @property
    def horizon(self) -> int:
        return self.config.horizon

    @property
    def action_dim(self) -> int:
        return self.config.action_dim

    @property
    def action_space(self) -> ActionSpace:
        return parse_action_space(self.config.action_space)

    @property
    def camera_names(self) -> list[str]:
        return list(self.config.camera_names)

    def _images(self, images: Mapping[str, np.ndarray]) -> torch.Tensor:
        missing = [name for name in self.config.camera_names if name not in images]
        if missing:
            raise ValueError(
                f"images is missing cameras {missing}; expected {self.config.camera_names}"
            )
        frames = []
        size = self.config.image_size
        for name in self.config.camera_names:
            frame = np.asarray(images[name])
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(
                    f"images[{name!r}] must be an (H, W, 3) uint8 array, got "
                    f"{frame.dtype} {frame.shape}"
                )
            # astype copies: frames may be read-only views of the node's observation buffers.
            x = torch.from_numpy(frame.astype(np.float32)).to(self.device)
            x = x.permute(2, 0, 1)[None] / 255.0
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
            frames.append(x[0])
        return torch.stack(frames)[None]

    def _state(self, state: np.ndarray) -> torch.Tensor:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.config.state_dim,):
            raise ValueError(f"state must have shape ({self.config.state_dim},), got {state.shape}")
        if not np.all(np.isfinite(state)):
            raise ValueError(f"state must be finite, got {state.tolist()}")
        normalised = self.normalization.normalize_state(state)
        return torch.as_tensor(normalised, dtype=torch.float32, device=self.device)[None]

    def _previous(
        self,
        previous_chunk: np.ndarray,
        state: np.ndarray,
        delay_steps: int,
        execution_horizon: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised RTC target Y (1, H, D) and weights W (H,) (RTC Eq. (5)).

        Only the rows the previous chunk actually covers are guided: rows past it get W = 0,
        a chunk longer than H is cut to H, and the frozen prefix d cannot exceed the overlap.
        """
        horizon, dim = self.config.horizon, self.config.action_dim
        prev = np.asarray(previous_chunk, dtype=np.float64)
        if prev.ndim != 2 or prev.shape[1] != dim:
            raise ValueError(f"previous_chunk must have shape (n, {dim}), got {prev.shape}")
        prev = prev[:horizon]
        overlap = prev.shape[0]
        if execution_horizon is None:
            execution_horizon = horizon - overlap
        weights = prefix_weights(
            horizon,
            min(delay_steps, horizon - execution_horizon),
            execution_horizon,
            schedule=self.rtc_schedule,
        )
        weights[overlap:] = 0.0
        target = np.zeros((horizon, dim))
        target[:overlap] = self.normalization.normalize_action(prev, np.asarray(state, float))
        return (
            torch.as_tensor(target, dtype=torch.float32, device=self.device)[None],
            weights.to(device=self.device, dtype=torch.float32),
        )

    def _refine_random(
        self, prefix, cond: torch.Tensor, actions: torch.Tensor, afm_noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """AFM (AsyncVLA Algorithm 1) on a Bernoulli(``random_mask_p``) token mask, no rater.

        Returns the refined actions, the (H,) mask and the seconds AFM took.
        """
        start = time.perf_counter()
        draw = torch.rand(actions.shape[:2], generator=self._generator, device=self.device)
        mask = draw < self.random_mask_p
        if bool(mask.any()):
            actions = sample_afm(
                lambda x, t: self.model.velocity(prefix, cond, x, t),
                actions,
                mask,
                afm_noise,
                num_steps=self.num_steps,
            )
        return actions, mask[0].cpu(), time.perf_counter() - start

    def predict_chunk(
        self,
        images: Mapping[str, np.ndarray],
        instruction: str,
        state: np.ndarray,
        *,
        previous_chunk: np.ndarray | None = None,
        strategy: str = "vlash",
        delay_steps: int = 0,
        execution_horizon: int | None = None,
    ) -> PolicyChunk:
        """See :meth:`ChunkPolicy.predict_chunk`."""
        start = time.perf_counter()
        # RTC guides toward the running chunk; with none known yet (the first chunk, or a gap
        # in the plan) it is plain unguided sampling, which is what RTC does then too.
        guided = get_strategy(strategy).uses_guidance
        rtc = guided and previous_chunk is not None and len(previous_chunk) > 0
        if isinstance(delay_steps, bool) or not isinstance(delay_steps, int) or delay_steps < 0:
            raise ValueError(f"delay_steps must be an int >= 0, got {delay_steps!r}")
        pixels = self._images(images)
        cond = self._state(state)
        encoded = self.tokenizer(
            [instruction],
            truncation=True,
            max_length=self.config.max_instruction_tokens,
            return_tensors="pt",
        )
        ids = encoded["input_ids"].to(self.device)
        mask = encoded["attention_mask"].to(self.device)
        shape = (1, self.config.horizon, self.config.action_dim)
        noise = torch.randn(shape, generator=self._generator, device=self.device)
        model = self.model
        with torch.no_grad():
            prefix = model.encode_prefix(pixels, ids, mask)
            if rtc:
                target, weights = self._previous(
                    previous_chunk, state, delay_steps, execution_horizon
                )
                sample_start = time.perf_counter()
                actions = sample_rtc(
                    lambda x, t: model.velocity(prefix, cond, x, t),
                    noise,
                    target,
                    weights,
                    beta_max=self.rtc_beta_max,
                    num_steps=self.num_steps,
                )
                sfm_s = time.perf_counter() - sample_start
                confidence = refined = draft = None
                stages = (prefix.encode_s, sfm_s, 0.0, 0.0)
            else:
                afm_noise = torch.randn(shape, generator=self._generator, device=self.device)
                refine = self.refine and not guided
                random_mask = refine and self.random_mask_p is not None
                result = model.sample(
                    prefix,
                    cond,
                    noise,
                    num_steps=self.num_steps,
                    refine=refine and not random_mask,
                    threshold=self.threshold,
                    afm_noise=afm_noise,
                )
                actions, draft = result.actions, result.draft
                confidence = None if result.confidence is None else result.confidence[0].cpu()
                refined = None if result.refined_mask is None else result.refined_mask[0].cpu()
                t = result.timings
                stages = (t.prefix_s, t.sfm_s, t.rater_s, t.afm_s)
                if random_mask:
                    draft = actions
                    actions, refined, afm_s = self._refine_random(prefix, cond, actions, afm_noise)
                    stages = (t.prefix_s, t.sfm_s, 0.0, afm_s)
        raw_state = np.asarray(state, dtype=np.float64)

        def unnormalise(chunk: torch.Tensor) -> np.ndarray:
            return self.normalization.unnormalize_action(chunk[0].double().cpu().numpy(), raw_state)

        return PolicyChunk(
            actions=unnormalise(actions),
            confidence=None if confidence is None else confidence.numpy().astype(np.float64),
            refined=None if refined is None else refined.numpy(),
            timing=InferenceTiming(time.perf_counter() - start, *stages),
            draft=None if draft is None else unnormalise(draft),
        )
