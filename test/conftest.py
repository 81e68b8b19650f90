"""Fixtures of the cross-package integration tests (run by `make test` after colcon test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vlash_bringup.node_graph import NodeGraph


@pytest.fixture
def ros_graph(tmp_path: Path) -> Iterator[NodeGraph]:
    """An isolated ROS graph for one test; its processes are stopped even when the test fails."""
    graph = NodeGraph(tmp_path / "logs")
    try:
        yield graph
    finally:
        graph.close()
