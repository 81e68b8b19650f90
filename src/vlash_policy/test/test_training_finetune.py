import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vlash_policy.data.lerobot_v3 import write_lerobot_dataset
from vlash_policy.data.synthetic import synthetic_episodes
from vlash_policy.model.tiny import SO101_ROBOT, tiny_config
from vlash_policy.model.vla import FlowVLA
from vlash_policy.training.finetune import Distributed, Trainer, _StageLoss, main, split_episodes
from vlash_policy.training.options import FinetuneOptions

# Trained on the synthetic SO-101 episodes, so on SO-101's joints and camera.
TINY = tiny_config(
    robot=SO101_ROBOT, text_layers=1, horizon=4, num_steps=2, max_instruction_tokens=8
)
REPO = Path(__file__).resolve().parents[3]
PYTHONPATH = os.pathsep.join(
    str(REPO / "src" / p) for p in ("vlash_core", "vlash_policy", "asyncvla_refiner")
)


def _options(tmp_path: Path, **kw) -> FinetuneOptions:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "tiny.json"
    TINY.save(config)
    values = dict(
        init_checkpoint="none", model_config=str(config), synthetic_episodes=3, max_offset=2,
        steps=3, batch_size=2, lr=1e-3, val_every=0, save_every=100,
        output_dir=str(tmp_path / "out"),
    )  # fmt: skip
    values.update(kw)
    return FinetuneOptions(**values)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flat(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_seeded_runs_are_identical(tmp_path):
    first = Trainer(_options(tmp_path / "a"), Distributed())
    first.fit()
    second = Trainer(_options(tmp_path / "b"), Distributed())
    second.fit()
    _assert_same(_flat(first.model), _flat(second.model))
    assert first.history == second.history and len(first.history) == 3


def test_training_lowers_the_loss(tmp_path):
    # 40 seeded steps on the 3 synthetic episodes take well under a second. One step's loss
    # depends on its draw of τ and noise, so ten-step means are compared, with a margin of 2×
    # (this run goes from about 1.5 to about 0.4).
    trainer = Trainer(_options(tmp_path, steps=40, batch_size=4), Distributed())
    losses = trainer.fit()
    assert len(losses) == 40
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first, losses


def test_resume_continues_identically(tmp_path):
    straight = Trainer(_options(tmp_path / "a", steps=4), Distributed())
    straight.fit()
    part = Trainer(_options(tmp_path / "b", steps=2, save_every=2), Distributed())
    part.fit()
    resumed = Trainer(_options(tmp_path / "b", steps=4, save_every=2, resume=True), Distributed())
    assert resumed.step == 2
    resumed.fit()
    _assert_same(_flat(straight.model), _flat(resumed.model))
    assert straight.history == resumed.history
    ckpt = tmp_path / "b" / "out" / "checkpoints" / "step_000004"
    names = {p.name for p in ckpt.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer", "normalization.json"} <= names


def test_rater_stage_keeps_the_policy_frozen(tmp_path):
    policy = Trainer(_options(tmp_path / "p", steps=1, save_every=1), Distributed())
    policy.fit()
    ckpt = policy.checkpoint_dir(1)
    rater = Trainer(
        _options(
            tmp_path / "r", stage="rater", init_checkpoint=str(ckpt), model_config="", steps=2,
            lr=1e-2,
        ),
        Distributed(),
    )  # fmt: skip
    before = _flat(rater.model)
    rater.fit()
    after = _flat(rater.model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(FlowVLA.is_rater_parameter(k) for k in changed)
    # normalisation comes from the policy checkpoint, not recomputed
    assert rater.normalization.to_dict() == policy.normalization.to_dict()


def test_unified_off_is_plain_sfm(tmp_path, monkeypatch):
    """Unified off: every token of a branch is noised to one shared time τ and supervised.

    That is plain SFM flow matching (AsyncVLA Eq. (4) with m = 1): x_τ = a + τ(n − a) on every
    token, target u = n − a = (x_τ − a) / τ, loss the mean over the valid tokens of the squared
    velocity error per action dimension. The velocity's inputs and output are recorded and the
    loss is recomputed from them, without the code's mask or loss functions.
    """
    trainer = Trainer(_options(tmp_path, unified=False), Distributed())
    batch = trainer.collate([trainer.train_set[0], trainer.train_set[5]])
    model = trainer.model
    recorded = {}
    velocity = model.velocity

    def recording_velocity(prefix, state, noisy, token_time):
        recorded["noisy"], recorded["token_time"] = noisy, token_time
        recorded["velocity"] = velocity(prefix, state, noisy, token_time)
        return recorded["velocity"]

    monkeypatch.setattr(model, "velocity", recording_velocity)
    loss = _StageLoss(model, stage="policy", unified=False)(batch, torch.Generator().manual_seed(0))

    token_time = recorded["token_time"]  # (B, K, H)
    assert token_time.shape == batch.actions.shape[:3]
    assert torch.equal(token_time, token_time[..., :1].expand_as(token_time))  # one τ per branch
    assert bool((token_time > 0).all()) and bool((token_time <= 1).all())
    noised = recorded["noisy"] - batch.actions
    assert bool((noised.abs().sum(-1) > 0).all())  # no token left clean
    target = noised / token_time[..., None]
    squared_error = (recorded["velocity"] - target) ** 2
    plain_sfm = squared_error[batch.valid].mean()
    torch.testing.assert_close(loss, plain_sfm, rtol=1e-4, atol=1e-6)


def test_validation_loss_is_deterministic(tmp_path):
    trainer = Trainer(_options(tmp_path, val_batches=2), Distributed())
    assert trainer.validate() == trainer.validate()


def test_one_episode_holds_out_none_and_says_so():
    episodes = synthetic_episodes(3, seed=0, num_joints=2)
    train, val, note = split_episodes(episodes[:1], 1)
    assert (train, val) == (episodes[:1], []) and "holding out none" in note
    assert split_episodes(episodes, 1) == (episodes[:2], episodes[2:], None)
    assert split_episodes(episodes[:1], 0) == (episodes[:1], [], None)


def test_a_one_episode_dataset_fine_tunes_a_checkpoint(tmp_path, capsys):
    start = Trainer(_options(tmp_path / "p", steps=1, save_every=1), Distributed())
    start.fit()
    dataset = write_lerobot_dataset(synthetic_episodes(2, seed=1, num_joints=2)[:1], tmp_path / "d")
    options = _options(
        tmp_path / "f", dataset=str(dataset), init_checkpoint=str(start.checkpoint_dir(1)),
        model_config="", val_every=1, steps=2,
    )  # fmt: skip
    tuned = Trainer(options, Distributed())
    out = capsys.readouterr().out
    assert f"finetune: starting from checkpoint {start.checkpoint_dir(1)}" in out
    assert "holding out none, no validation loss" in out
    _assert_same(_flat(tuned.model), _flat(start.model))  # the checkpoint's weights
    assert tuned.val_set is None and len(tuned.fit()) == 2


def test_cli_ends_with_the_checkpoint_and_how_to_deploy_it(tmp_path, capsys):
    options = _options(tmp_path, steps=1)
    args = [f"--{k}={v}" for k, v in options.to_dict().items()]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    checkpoint = (tmp_path / "out" / "checkpoints" / "step_000001").resolve()
    assert lines[-3:-1] == [
        f"finetune: checkpoint {checkpoint}",
        f"finetune: deploy it with: python scripts/vlash_launch.py --model {checkpoint}",
    ]
    assert json.loads(lines[-1])["checkpoint"] == str(checkpoint)
    assert (checkpoint / "model.safetensors").is_file()
    with pytest.raises(SystemExit, match=r"error: .*nowhere"):
        main([*args, f"--dataset={tmp_path / 'nowhere'}"])


def test_cli_rejects_unknown_keys(tmp_path, capsys):
    with pytest.raises(SystemExit, match="valid keys"):
        main(["--stepz=3"])
    assert main(["--help"]) == 0


def test_torchrun_ddp_two_ranks_stay_in_sync(tmp_path):
    options = _options(tmp_path, steps=2, synthetic_episodes=3)
    script = tmp_path / "ddp_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import torch, torch.distributed as dist
            from vlash_policy.training.finetune import Trainer
            from vlash_policy.training.options import FinetuneOptions
            trainer = Trainer(FinetuneOptions(**{options.to_dict()!r}))
            history = trainer.fit()
            flat = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()])
            torch.save({{"flat": flat, "history": history, "backend": dist.get_backend()}},
                       "{tmp_path}/rank%d.pt" % dist.get_rank())
            dist.destroy_process_group()
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.Popen(
        [
            str(torchrun), "--nproc_per_node=2", f"--master_port={_free_port()}",
            # per-rank log files: rank output piped through the launcher stalled here
            "--redirects=3", f"--log-dir={tmp_path / 'logs'}", str(script),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        returncode = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:  # never leave the launcher's rank processes behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    logs = "".join(p.read_text()[-2000:] for p in (tmp_path / "logs").rglob("stderr.log"))
    assert returncode == 0, logs
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["backend"] == "gloo"
    torch.testing.assert_close(r0["flat"], r1["flat"], rtol=0, atol=0)
    assert r0["history"] == r1["history"] and len(r0["history"]) == 2
    # each rank saw a different shard, so the all-reduced update differs from no update
    fresh = Trainer(_options(tmp_path / "fresh"), Distributed())
    init = torch.cat([p.detach().reshape(-1) for p in fresh.model.parameters()])
    assert not torch.equal(init, r0["flat"])
