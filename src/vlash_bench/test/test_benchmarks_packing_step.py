"""The packed-training toy of the packing benchmark: packed equals unpacked (VLASH Sec. 4.3)."""

from __future__ import annotations

import json

import pytest
import torch

from vlash_bench.packing_step import (
    PAPER_SPEEDUP,
    ToyTransformer,
    branch_loss,
    main,
    packed_forward,
    unpacked_forward,
)
from vlash_policy.packing import PackedLayout, unpack_branches


def model_inputs(layout: PackedLayout, width: int, batch: int = 2):
    obs = torch.randn(batch, layout.prefix_len, width)
    branches = [torch.randn(batch, n, width) for n in layout.branch_lens]
    targets = [torch.randn(batch, n, width) for n in layout.branch_lens]
    return obs, branches, targets


# --- equivalence of packed and unpacked training (VLASH Sec. 4.3) ------------------------


@pytest.fixture
def model() -> ToyTransformer:
    torch.manual_seed(0)
    return ToyTransformer(layers=2, width=32, heads=4)


def test_packed_forward_equals_each_branch_alone_unequal_lengths(model):
    torch.manual_seed(3)
    layout = PackedLayout(7, (3, 5, 2, 4))
    obs, branches, _ = model_inputs(layout, 32)
    packed = packed_forward(model, obs, branches)
    for k, branch in enumerate(branches):
        alone_layout = PackedLayout(layout.prefix_len, (branch.shape[1],))
        alone = model(torch.cat([obs, branch], dim=1), alone_layout)
        torch.testing.assert_close(packed[k], alone[:, layout.prefix_len :], atol=1e-5, rtol=0)
    # without the mask the branches would interact, so the test can fail
    full = PackedLayout(layout.total_len - branches[-1].shape[1], (branches[-1].shape[1],))
    leaky = unpack_branches(model(torch.cat([obs, *branches], dim=1), full), full)[0]
    assert not torch.allclose(leaky, packed[-1], atol=1e-3)


def test_packed_loss_and_gradients_equal_unpacked(model):
    torch.manual_seed(4)
    layout = PackedLayout(9, (4, 4, 4))
    obs, branches, targets = model_inputs(layout, 32)

    model.zero_grad()
    packed_out = packed_forward(model, obs, branches)
    packed_loss = branch_loss(packed_out, targets)
    packed_loss.backward()
    packed_grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    model.zero_grad()
    unpacked_out = unpacked_forward(model, obs, branches)
    unpacked_loss = branch_loss(unpacked_out, targets)
    unpacked_loss.backward()

    for a, b in zip(packed_out, unpacked_out, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed_loss, unpacked_loss, atol=1e-5, rtol=0)
    for name, param in model.named_parameters():
        assert packed_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(packed_grads[name], param.grad, atol=1e-5, rtol=0, msg=name)


def test_branch_loss_is_mean_of_branch_mses():
    outs = [torch.zeros(1, 2, 1), torch.zeros(1, 1, 1)]
    targets = [torch.tensor([[[1.0], [3.0]]]), torch.tensor([[[2.0]]])]
    # branch MSEs (1 + 9) / 2 = 5 and 4, averaged over branches
    assert branch_loss(outs, targets).item() == pytest.approx(4.5)


@pytest.mark.slow
def test_compiled_flex_backend_matches_sdpa_forward(model):
    # Compiles flex_attention once for this shape (tens of seconds on CPU); forward only,
    # since FlexAttention has no backward on CPU.
    torch.manual_seed(5)
    layout = PackedLayout(20, (6, 6, 6))
    obs, branches, _ = model_inputs(layout, 32, batch=1)
    with torch.no_grad():
        flex = packed_forward(model, obs, branches, backend="flex")
        sdpa = packed_forward(model, obs, branches, backend="sdpa")
    for a, b in zip(flex, sdpa, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


# --- benchmark command -------------------------------------------------------------------


def test_benchmark_main_reports_table_and_json(tmp_path, capsys):
    path = tmp_path / "packing.json"
    argv = ["--layers", "1", "--width", "16", "--heads", "2", "--prefix", "12", "--branch", "3"]
    result = main([*argv, "--max-offset", "2", "--repeats", "2", "--json", str(path)])
    printed = capsys.readouterr().out
    assert "packed" in printed
    assert "unpacked" in printed
    assert f"{PAPER_SPEEDUP:.2f}x" in printed
    written = json.loads(path.read_text())
    assert written == json.loads(json.dumps(result))
    assert written["packed_tokens"] == 12 + 3 * 3
    assert written["unpacked_tokens"] == 3 * (12 + 3)
    assert written["packed_ms"] > 0
    assert written["unpacked_ms"] > 0
    assert written["speedup"] == pytest.approx(written["unpacked_ms"] / written["packed_ms"])
    assert written["paper_speedup"] == PAPER_SPEEDUP
