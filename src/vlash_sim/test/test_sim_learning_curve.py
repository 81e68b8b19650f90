import json
import shutil

import pytest

from vlash_sim import learning_curve as lc
from vlash_sim import random_checkpoint as checkpoints
from vlash_sim.evaluate import CellResult


def _cell(hits: int, misses: int) -> CellResult:
    rate = hits / (hits + misses)
    return CellResult("sync", 0, 1, hits, misses, rate, (0.0, 1.0), 0.0, (0.0, 0.0), 0.0)


def test_best_point_has_the_highest_hit_rate_then_most_hits_then_latest_step():
    points = [
        lc.CurvePoint(1000, "a", _cell(3, 5)),
        lc.CurvePoint(2000, "b", _cell(6, 2)),
        lc.CurvePoint(3000, "c", _cell(6, 2)),
        lc.CurvePoint(4000, "d", _cell(3, 1)),
        lc.CurvePoint(5000, "e", _cell(2, 8)),
    ]
    assert lc.best_point(points).step == 3000
    assert lc.best_point(points[:2] + points[3:]).step == 2000
    with pytest.raises(ValueError, match="no curve points"):
        lc.best_point([])


def test_run_checkpoints_needs_saved_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        lc.run_checkpoints(tmp_path)


def test_cli_evaluates_every_checkpoint_and_names_the_best(tmp_path, capsys):
    first = checkpoints.random_checkpoint(tmp_path / "run" / "checkpoints" / "step_000010")
    shutil.copytree(first, tmp_path / "run" / "checkpoints" / "step_000020")
    out = tmp_path / "curve.json"
    lc.main([
        str(tmp_path / "run"), "--episodes", "1", "--steps", "40", "--seed", "5000",
        "--json", str(out), "--plot", str(tmp_path / "curve.png"),
    ])  # fmt: skip
    payload = json.loads(out.read_text())
    assert [p["step"] for p in payload["points"]] == [10, 20]
    # Identical weights play identical episodes, so the tie goes to the later step.
    assert payload["points"][0]["hits"] == payload["points"][1]["hits"]
    assert payload["best"]["step"] == 20
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert "best: step 20" in capsys.readouterr().out
