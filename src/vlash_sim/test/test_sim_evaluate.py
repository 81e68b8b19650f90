import json
import math

import numpy as np
import pytest

from vlash_sim import random_checkpoint as checkpoints
from vlash_sim.evaluate import (
    bootstrap_mean_interval,
    evaluate,
    format_table,
    main,
)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    return checkpoints.random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def test_bootstrap_interval():
    assert all(math.isnan(x) for x in bootstrap_mean_interval([]))
    assert bootstrap_mean_interval([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4))
    values = np.random.default_rng(1).exponential(0.5, size=200)
    low, high = bootstrap_mean_interval(values, seed=3)
    assert low < values.mean() < high
    assert bootstrap_mean_interval(values, seed=3) == (low, high)
    # With more data the interval shrinks (roughly as 1/sqrt(n)).
    more = np.random.default_rng(1).exponential(0.5, size=3200)
    low_more, high_more = bootstrap_mean_interval(more, seed=3)
    assert high_more - low_more < (high - low) / 2


def test_expert_without_delay_hits_every_target():
    (cell,) = evaluate(
        policy="expert",
        checkpoint=None,
        strategies=["sync"],
        delays=[0],
        execution_horizon=8,
        episodes=2,
        steps=150,
        seed=0,
    )
    assert cell.hits >= 6 and cell.misses == 0
    assert cell.hit_rate == 1.0
    assert cell.time_to_hit_ci_s[0] <= cell.mean_time_to_hit_s <= cell.time_to_hit_ci_s[1]


def test_checkpoint_cells_structure(random_checkpoint, tmp_path):
    out = tmp_path / "eval.json"
    main(
        [
            "--checkpoint", str(random_checkpoint),
            "--strategies", "sync", "vlash",
            "--delays", "0", "2",
            "--episodes", "1",
            "--steps", "20",
            "--no-refine",
            "--json", str(out),
        ]
    )  # fmt: skip
    cells = json.loads(out.read_text())["cells"]
    assert [(c["strategy"], c["delay_steps"]) for c in cells] == [
        ("sync", 0), ("sync", 2), ("vlash", 0), ("vlash", 2)
    ]  # fmt: skip
    for c in cells:
        assert c["episodes"] == 1
        assert c["mean_inference_ms"] > 0.0
        assert c["hit_rate_ci"][0] <= c["hit_rate"] <= c["hit_rate_ci"][1]


def test_format_table_has_a_row_per_cell():
    cells = evaluate(
        policy="expert",
        checkpoint=None,
        strategies=["sync", "vlash"],
        delays=[1],
        execution_horizon=8,
        episodes=1,
        steps=30,
        seed=0,
    )
    lines = format_table(cells).splitlines()
    assert len(lines) == 2 + len(cells)
    assert lines[2].split()[:2] == ["sync", "1"] and lines[3].split()[:2] == ["vlash", "1"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"policy": "expert", "strategies": ["nope"]}, ValueError),
        ({"policy": "expert", "delays": [-1]}, ValueError),
        ({"policy": "checkpoint"}, ValueError),
        ({"policy": "other"}, ValueError),
    ],
)
def test_rejects_bad_arguments(kwargs, error):
    args = {
        "checkpoint": None,
        "strategies": ["sync"],
        "delays": [0],
        "execution_horizon": 8,
        "episodes": 1,
        "steps": 5,
        "seed": 0,
    }
    args.update(kwargs)
    with pytest.raises(error):
        evaluate(**args)
