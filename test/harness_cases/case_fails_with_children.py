"""Run only by test_node_graph.py in an inner pytest: fails while its processes still run."""

from __future__ import annotations

import os
from pathlib import Path

STUBBORN = Path(__file__).resolve().parent.parent / "scripts" / "stubborn_parent.py"


def test_fails_while_children_run(ros_graph):
    pid_file = Path(os.environ["VLASH_HARNESS_PID_FILE"])
    ros_graph.start_script(STUBBORN, str(pid_file), name="stubborn")
    ros_graph.spin_until(pid_file.exists, 30.0, "stubborn_parent.py wrote its pids")
    raise AssertionError("deliberate failure with a process tree still running")
