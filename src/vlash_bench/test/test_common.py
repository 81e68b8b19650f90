"""The result files every benchmark writes."""

from __future__ import annotations

import json

from vlash_bench import common


def test_write_result_writes_json_and_png(tmp_path):
    fig, (ax,) = common.figure()
    ax.plot([0, 1], [0, 1])
    result = common.write_result(
        tmp_path,
        "demo",
        quick=True,
        config={"a": 1},
        results={"x": [1, 2]},
        paper={"y": 3},
        runtime_s=0.5,
        figure=fig,
    )
    on_disk = json.loads((tmp_path / "demo.json").read_text())
    assert on_disk == result
    assert tuple(on_disk) == common.RESULT_KEYS
    assert {"cpu", "cores", "torch", "git_commit"} <= set(on_disk["machine"])
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
