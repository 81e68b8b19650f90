"""Resolve launch/graph.yaml into the concrete nodes to start (no ROS imports).

Both launchers call :func:`resolve_graph`: launch/vlash.launch.py turns the result into
``launch_ros`` actions, scripts/vlash_launch.py into subprocesses with the same ``--ros-args``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
GRAPH_FILE = ROOT / "launch" / "graph.yaml"


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: ``package``/``executable`` named ``name`` in ``namespace``."""

    package: str
    executable: str
    name: str
    namespace: str
    params_files: tuple[Path, ...]
    parameters: dict[str, str] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()

    def ros_args(self) -> list[str]:
        """The ``--ros-args`` a process needs to run as this node (as ``ros2 launch`` passes)."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace}"]
        for path in self.params_files:
            args += ["--params-file", str(path)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={value}"]
        for old, new in self.remappings:
            args += ["-r", f"{old}:={new}"]
        return args


@dataclass(frozen=True)
class ResolvedGraph:
    nodes: tuple[NodeSpec, ...]
    record_topics: tuple[str, ...]


def load_graph(path: Path = GRAPH_FILE) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def argument_defaults(graph: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(arg["default"]) for name, arg in graph["arguments"].items()}


def resolve_graph(
    profile: str,
    arguments: Mapping[str, str] | None = None,
    namespace: str = "",
    graph: Mapping[str, Any] | None = None,
) -> ResolvedGraph:
    """Nodes of ``profile`` with ``arguments`` (graph.yaml's ``arguments``) applied.

    Raises ``ValueError`` for an unknown profile or argument, or a missing parameter file.
    """
    graph = load_graph() if graph is None else graph
    profiles = graph["profiles"]
    if profile not in profiles:
        raise ValueError(
            f"profile {profile!r} is not in graph.yaml; choose one of {list(profiles)}"
        )
    values = argument_defaults(graph)
    for name, value in (arguments or {}).items():
        if name not in values:
            raise ValueError(f"argument {name!r} is not declared in graph.yaml: {list(values)}")
        values[name] = str(value)

    namespace = namespace.strip("/")
    nodes = []
    for node in profiles[profile]["nodes"]:
        params_files = tuple(ROOT / p for p in node.get("params", []))
        for path in params_files:
            if not path.is_file():
                raise ValueError(f"node {node['name']!r}: parameter file {path} does not exist")
        parameters: dict[str, str] = {}
        remappings: list[tuple[str, str]] = []
        for arg_name, arg in graph["arguments"].items():
            if values[arg_name] == "":
                continue  # empty = keep what the parameter file or the node says
            for target in arg.get("parameters", []):
                if target["node"] == node["name"]:
                    parameters[target["name"]] = values[arg_name]
            for target in arg.get("remaps", []):
                if target["node"] == node["name"]:
                    remappings.append((target["from"], values[arg_name]))
        nodes.append(
            NodeSpec(
                package=node["package"],
                executable=node["executable"],
                name=node["name"],
                namespace=namespace,
                params_files=params_files,
                parameters=parameters,
                remappings=tuple(remappings),
            )
        )
    prefix = f"/{namespace}/" if namespace else "/"
    topics = tuple(prefix + t.lstrip("/") for t in graph.get("record_topics", []))
    return ResolvedGraph(tuple(nodes), topics)


def find_executable(package: str, executable: str) -> Path | None:
    """``<prefix>/lib/<package>/<executable>`` from AMENT_PREFIX_PATH, as ``ros2 run`` finds it."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "lib" / package / executable
        if prefix and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def node_parameter_keys(params_file: Path, node_name: str) -> set[str]:
    """Parameter names a ROS params file sets for ``node_name`` (nested keys joined by '.').

    Sections apply to a node when keyed by its name (optionally with a leading '/') or by '/**'.
    """
    with open(params_file) as f:
        content = yaml.safe_load(f) or {}
    keys: set[str] = set()
    for section, body in content.items():
        if section.lstrip("/") != node_name and section != "/**":
            continue
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ValueError(f"{params_file}: section {section!r} has no 'ros__parameters'")
        keys |= _flatten(body["ros__parameters"] or {})
    return keys


def _flatten(params: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in params.items():
        if isinstance(value, dict):
            keys |= _flatten(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys
