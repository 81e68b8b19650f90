"""Fine-tune the flow-matching VLA: ``python -m vlash_policy.training.finetune``.

Usage::

    python -m vlash_policy.training.finetune \
        --config src/vlash_policy/config/finetune.yaml --steps=2000 ...
    torchrun --nproc_per_node=N -m vlash_policy.training.finetune --config ...

Stage ``policy`` minimises the AsyncVLA unified SFM/AFM loss (Algorithm 2, Eq. (4)-(5)) over
VLASH offset branches (Sec. 4.2): with shared observation every sample carries all Δmax+1 branches
behind one encoded o_t (Sec. 4.3). Stage ``rater`` freezes the policy and regresses the confidence
rater onto the pseudo labels of Eq. (6) (AsyncVLA Sec. 3.3).

Everything random is derived from ``(seed, step, rank)`` or ``(seed, epoch)``, and checkpoints
store the optimizer state and step, so a resumed run continues exactly as an uninterrupted one.
Under ``torchrun`` (WORLD_SIZE > 1) the model is wrapped in DDP (gloo on CPU, nccl on GPU), each
rank reads its DistributedSampler shard, and only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from vlash_policy.data.batching import OffsetDataset, TrainingBatch, collate
from vlash_policy.data.episode import Episode
from vlash_policy.data.lerobot_v3 import read_lerobot_dataset
from vlash_policy.data.normalization import NormalizationStats
from vlash_policy.data.synthetic import synthetic_episodes
from vlash_policy.model.checkpoint import (
    WEIGHTS_FILE,
    build_default_model,
    check_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from vlash_policy.model.config import VLAConfig
from vlash_policy.model.vla import FlowNoise, FlowVLA
from vlash_policy.training.options import FinetuneOptions, load_options, parse_overrides

TRAINER_STATE_FILE = "trainer_state.pt"
OPTIONS_FILE = "finetune.yaml"


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def _generator(*parts: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(_seed_for(*parts))


@dataclass
class Distributed:
    """Process-group facts; world_size 1 means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls) -> Distributed:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            device, backend = torch.device("cuda", local_rank), "nccl"
        else:
            device, backend = torch.device("cpu"), "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(), device)


class _StageLoss(nn.Module):
    """Loss of the selected stage as ``forward`` so DDP's gradient hooks see the call."""

    def __init__(
        self, model: FlowVLA, *, stage: str, unified: bool, sfm_fraction: float = 0.0
    ) -> None:
        super().__init__()
        self.model = model
        self.stage = stage
        self.unified = unified
        self.sfm_fraction = sfm_fraction

    def forward(self, batch: TrainingBatch, generator: torch.Generator) -> Tensor:
        if self.stage == "rater":
            return self.model.rater_loss(batch, generator=generator)
        noise = self.model.draw_flow_noise(
            batch, generator=generator, sfm_probability=self.sfm_fraction
        )
        if not self.unified:
            # All tokens masked: Eq. (4) reduces to the vanilla SFM loss (AsyncVLA Sec. 3.3).
            noise = FlowNoise(noise.noise, noise.tau, torch.ones_like(noise.mask))
        return self.model.training_loss(batch, flow_noise=noise)


def load_episodes(options: FinetuneOptions) -> list[Episode]:
    if options.dataset == "synthetic":
        episodes = synthetic_episodes(
            options.synthetic_episodes, seed=options.seed, num_joints=options.synthetic_joints
        )
    else:
        episodes = read_lerobot_dataset(options.dataset)
    if options.commanded_states:
        episodes = [ep.with_commanded_states() for ep in episodes]
    return episodes


def split_episodes(
    episodes: Sequence[Episode], val_episodes: int
) -> tuple[list[Episode], list[Episode], str | None]:
    """(train, validation, note): the last ``val_episodes`` episodes are held out.

    The split is fixed and seed-independent. A dataset of no more than ``val_episodes``
    episodes (e.g. one converted bag) holds out none and trains on all; ``note`` then says so
    (None otherwise).
    """
    if not episodes:
        raise ValueError("the dataset has no episodes")
    if val_episodes >= len(episodes):
        note = (
            f"the dataset has {len(episodes)} episode(s), so val_episodes={val_episodes} would "
            "leave nothing to train on: holding out none, no validation loss (convert more "
            "bags for one, or set val_episodes: 0)"
        )
        return list(episodes), [], note if val_episodes else None
    cut = len(episodes) - val_episodes
    return list(episodes[:cut]), list(episodes[cut:]), None


def _config_for_data(base: VLAConfig, ep: Episode) -> VLAConfig:
    names = (
        list(ep.joint_names)
        if ep.action_dim == ep.state_dim
        else [f"action_{i}" for i in range(ep.action_dim)]
    )
    return dataclasses.replace(
        base,
        action_dim=ep.action_dim,
        state_dim=ep.state_dim,
        joint_names=names,
        num_cameras=len(ep.cameras),
        camera_names=list(ep.cameras),
        action_space=ep.action_space.name.lower(),
    )


def _check_config_matches(config: VLAConfig, ep: Episode, source: str) -> None:
    for what, have, want in (
        ("action_dim", config.action_dim, ep.action_dim),
        ("state_dim", config.state_dim, ep.state_dim),
        ("camera_names", list(config.camera_names), list(ep.cameras)),
        ("action_space", config.action_space, ep.action_space.name.lower()),
    ):
        if have != want:
            raise ValueError(f"{source} has {what}={have!r} but the dataset has {want!r}")


class Trainer:
    """Owns model, data, optimizer and the step counter; :meth:`fit` runs to ``options.steps``."""

    def __init__(self, options: FinetuneOptions, dist_info: Distributed | None = None) -> None:
        self.options = options
        self.dist = dist_info or Distributed.setup()
        torch.manual_seed(options.seed)
        episodes = load_episodes(options)
        train_eps, val_eps, split_note = split_episodes(episodes, options.val_episodes)
        init = options.init_checkpoint_dir()
        if self.dist.is_main:
            start = "a new model (init_checkpoint: none)" if init is None else f"checkpoint {init}"
            print(f"finetune: starting from {start}" + (f"; {split_note}" if split_note else ""))
        if init is not None:
            loaded = load_checkpoint(init, device="cpu")
            _check_config_matches(loaded.config, episodes[0], f"init_checkpoint {init}")
            self.model, self.tokenizer = loaded.model, loaded.tokenizer
            self.normalization = loaded.normalization
        else:
            base = VLAConfig.load(options.model_config) if options.model_config else VLAConfig()
            self.model, self.tokenizer = build_default_model(_config_for_data(base, episodes[0]))
            self.normalization = NormalizationStats.compute(
                train_eps,
                relative_horizon=self.model.config.horizon if options.relative_actions else None,
            )
        self.model.to(self.dist.device).train()
        self._freeze_for_stage()

        cfg = self.model.config
        tokenize = functools.partial(self._tokenize, max_length=cfg.max_instruction_tokens)
        make = functools.partial(
            OffsetDataset,
            horizon=cfg.horizon,
            max_offset=options.max_offset,
            normalization=self.normalization,
            tokenize=tokenize,
            image_size=cfg.image_size,
            seed=options.seed,
        )
        self.train_set = make(train_eps, shared_observation=options.shared_observation)
        # Validation always scores every offset so its loss does not depend on offset draws.
        self.val_set = make(val_eps, shared_observation=True) if val_eps else None
        self.collate = functools.partial(collate, pad_token_id=self.tokenizer.pad_token_id or 0)
        self.sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=options.seed,
            drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // options.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"batch_size {options.batch_size} exceeds the {len(self.sampler)} samples per "
                "rank of the training split"
            )

        self.loss_module: nn.Module = _StageLoss(
            self.model,
            stage=options.stage,
            unified=options.unified,
            sfm_fraction=options.sfm_fraction,
        )
        if self.dist.world_size > 1:
            # The policy loss never reaches the LM's last MLP / final norm (only its K/V are
            # read by the expert), so some parameters legitimately get no gradient.
            self.loss_module = DistributedDataParallel(
                self.loss_module, find_unused_parameters=True
            )
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            trainable, lr=options.lr, weight_decay=options.weight_decay, betas=(0.9, 0.999)
        )
        self.step = 0
        self.history: list[float] = []
        self.output_dir = Path(options.output_dir)
        if options.resume:
            latest = self.latest_checkpoint()
            if latest is not None:
                self.load_state(latest)

    # ------------------------------------------------------------------ setup helpers
    def _tokenize(self, text: str, *, max_length: int) -> list[int]:
        return list(self.tokenizer(text, truncation=True, max_length=max_length)["input_ids"])

    def _freeze_for_stage(self) -> None:
        """Stage policy trains all but the rater; stage rater trains only the rater."""
        rater_stage = self.options.stage == "rater"
        for name, param in self.model.named_parameters():
            param.requires_grad_(FlowVLA.is_rater_parameter(name) == rater_stage)

    # ------------------------------------------------------------------ data
    def _epoch_batches(self, epoch: int, skip: int) -> Iterator[TrainingBatch]:
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        indices = list(self.sampler)
        bs = self.options.batch_size
        batches = [indices[i * bs : (i + 1) * bs] for i in range(self.steps_per_epoch)][skip:]
        loader = DataLoader(
            self.train_set,
            batch_sampler=batches,
            collate_fn=self.collate,
            num_workers=self.options.num_workers,
        )
        yield from loader

    def _to_device(self, batch: TrainingBatch) -> TrainingBatch:
        return batch.to(self.dist.device)

    # ------------------------------------------------------------------ loop
    def fit(self) -> list[float]:
        """Train until ``options.steps``; returns the (rank-averaged) loss of every step run."""
        opts = self.options
        bar = tqdm(
            total=opts.steps,
            initial=self.step,
            disable=not self.dist.is_main,
            desc=f"finetune[{opts.stage}]",
            dynamic_ncols=True,
        )
        global_batch = opts.batch_size * self.dist.world_size
        while self.step < opts.steps:
            epoch, skip = divmod(self.step, self.steps_per_epoch)
            for batch in self._epoch_batches(epoch, skip):
                start = time.perf_counter()
                loss = self.train_step(self._to_device(batch))
                self.history.append(loss)
                rate = global_batch / max(time.perf_counter() - start, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", samples_per_s=f"{rate:.1f}")
                if opts.val_every and self.step % opts.val_every == 0 and self.val_set:
                    val = self.validate()
                    if self.dist.is_main:
                        bar.write(f"step {self.step}: val_loss {val:.4f}")
                if self.step % opts.save_every == 0 or self.step == opts.steps:
                    self.save()
                if self.step >= opts.steps:
                    break
        bar.close()
        return self.history

    def train_step(self, batch: TrainingBatch) -> float:
        self.loss_module.train()
        generator = _generator(
            self.options.seed, self.step, self.dist.rank, device=self.dist.device
        )
        loss = self.loss_module(batch, generator)
        for group in self.optimizer.param_groups:
            group["lr"] = self.options.learning_rate(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.grad_clip > 0:
            params = [p for p in self.model.parameters() if p.requires_grad]
            torch.nn.utils.clip_grad_norm_(params, self.options.grad_clip)
        self.optimizer.step()
        self.step += 1
        value = loss.detach()
        if self.dist.world_size > 1:
            dist.all_reduce(value)
            value /= self.dist.world_size
        return float(value)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean loss over the first ``val_batches`` held-out batches, with fixed noise."""
        if self.val_set is None:
            raise ValueError("validation needs val_episodes >= 1")
        opts = self.options
        loss_fn = _StageLoss(
            self.model, stage=opts.stage, unified=opts.unified, sfm_fraction=opts.sfm_fraction
        )
        loss_fn.eval()
        loader = DataLoader(
            self.val_set, batch_size=self.options.batch_size, collate_fn=self.collate
        )
        losses = []
        for i, batch in enumerate(loader):
            if i >= self.options.val_batches:
                break
            gen = _generator(self.options.seed, i, 2**31, device=self.dist.device)
            losses.append(float(loss_fn(self._to_device(batch), gen)))
        self.model.train()
        return float(np.mean(losses))

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_dir(self, step: int) -> Path:
        return self.output_dir / "checkpoints" / f"step_{step:06d}"

    def latest_checkpoint(self) -> Path | None:
        candidates = sorted((self.output_dir / "checkpoints").glob("step_*/" + TRAINER_STATE_FILE))
        return candidates[-1].parent if candidates else None

    def save(self) -> Path | None:
        """Rank 0 writes model files + trainer state; every rank waits for it to finish."""
        directory = self.checkpoint_dir(self.step)
        if self.dist.is_main:
            save_checkpoint(
                self.model, directory, tokenizer=self.tokenizer, normalization=self.normalization
            )
            torch.save(
                {
                    "step": self.step,
                    "optimizer": self.optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "history": self.history,
                },
                directory / TRAINER_STATE_FILE,
            )
            (directory / OPTIONS_FILE).write_text(yaml.safe_dump(self.options.to_dict()))
        if self.dist.world_size > 1:
            dist.barrier()
        return directory if self.dist.is_main else None

    def load_state(self, directory: str | Path) -> None:
        """Restore weights, optimizer, step and RNG from a checkpoint written by :meth:`save`."""
        directory = Path(directory)
        weights = load_file(str(directory / WEIGHTS_FILE), device=str(self.dist.device))
        check_state_dict(self.model.state_dict(), weights, directory / WEIGHTS_FILE)
        self.model.load_state_dict(weights, strict=True)
        state = torch.load(directory / TRAINER_STATE_FILE, weights_only=True, map_location="cpu")
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.history = list(state["history"])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = None
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("options (--key=value):", ", ".join(FinetuneOptions.__dataclass_fields__))
        return 0
    rest = []
    i = 0
    while i < len(args):
        if args[i] == "--config":
            if i + 1 >= len(args):
                raise SystemExit("--config needs a path")
            config, i = args[i + 1], i + 2
        elif args[i].startswith("--config="):
            config, i = args[i].partition("=")[2], i + 1
        else:
            rest.append(args[i])
            i += 1
    try:
        options = load_options(config, parse_overrides(rest))
    except (TypeError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    try:
        trainer = Trainer(options)
    except (FileNotFoundError, ValueError) as err:  # the dataset or checkpoint named is unusable
        raise SystemExit(f"error: {err}") from None
    history = trainer.fit()
    if trainer.dist.is_main:
        checkpoint = trainer.checkpoint_dir(trainer.step).resolve()
        print(f"finetune: checkpoint {checkpoint}")
        print(f"finetune: deploy it with: python scripts/vlash_launch.py --model {checkpoint}")
        # Last, one JSON line: scripts read the run's outcome with `tail -n 1`.
        final = {"steps": trainer.step, "final_loss": history[-1] if history else None}
        print(json.dumps({**final, "checkpoint": str(checkpoint)}))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
