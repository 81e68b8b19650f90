"""Resolve the bring-up package's launch/graph.yaml into the concrete nodes to start (no ROS).

Both launchers call :func:`resolve_graph`: launch/vlash.launch.py turns the result into
``launch_ros`` actions, :mod:`vlash_bringup.launcher` into subprocesses with the same
``--ros-args``. Graph and parameter files are found in the source tree when this module runs
from it (or from a ``--symlink-install``), else in the installed share directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _share_dir() -> Path:
    """Where launch/ and config/ are: beside this package in the tree, else its share dir."""
    tree = Path(__file__).resolve().parent.parent
    if (tree / "launch" / "graph.yaml").is_file():
        return tree
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("vlash_bringup"))


SHARE = _share_dir()
GRAPH_FILE = SHARE / "launch" / "graph.yaml"

# Arguments the launchers consume themselves instead of passing them to nodes.
LAUNCHER_ARGUMENTS = ("profile", "namespace", "record")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_CONVERTERS = {"str": str, "float": float, "int": int}


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: ``package``/``executable`` named ``name`` in ``namespace``.

    ``parameters`` override the parameter files, typed as the node declares them.
    """

    package: str
    executable: str
    name: str
    namespace: str
    params_files: tuple[Path, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()

    def file_parameters(self) -> dict[str, Any]:
        """What the parameter files set for this node, later files overriding earlier ones."""
        values: dict[str, Any] = {}
        for path in self.params_files:
            values.update(node_parameters(path, self.name))
        return values

    def configured(self, key: str) -> Any:
        """Value of parameter ``key`` as launched: the arguments, else the last file setting it.

        None when neither sets it (the node's declared default applies).
        """
        return self.parameters.get(key, self.file_parameters().get(key))

    def ros_args(self) -> list[str]:
        """The ``--ros-args`` a process needs to run as this node (as ``ros2 launch`` passes).

        In a namespace the files' values are passed one by one: their sections are keyed by
        the bare node name, which rcl matches only to a node outside any namespace, so
        ``--params-file`` would silently leave a namespaced node on its defaults.
        """
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace}"]
            for key, value in self.file_parameters().items():
                args += ["-p", f"{key}:={yaml_value(value)}"]
        else:
            for path in self.params_files:
                args += ["--params-file", str(path)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={yaml_value(value)}"]
        for old, new in self.remappings:
            args += ["-r", f"{old}:={new}"]
        return args


@dataclass(frozen=True)
class ResolvedGraph:
    """A profile's nodes with the launch arguments applied.

    ``record_topics`` maps fully qualified topic names (namespace and remaps applied) to their
    ``package/msg/Type``; ``recorder_node`` is the project's recorder, which records them.
    """

    profile: str
    namespace: str
    record: bool
    nodes: tuple[NodeSpec, ...]
    record_topics: dict[str, str]
    recorder_node: NodeSpec

    def recorder(self, output_dir: Path) -> NodeSpec:
        """The recorder node writing ``record_topics`` into the new bag ``output_dir``."""
        topics = [f"{topic}:{msgtype}" for topic, msgtype in self.record_topics.items()]
        parameters = {"output_dir": str(output_dir), "topics": topics}
        return NodeSpec(
            package=self.recorder_node.package,
            executable=self.recorder_node.executable,
            name=self.recorder_node.name,
            namespace=self.namespace,
            params_files=(),
            parameters=parameters,
        )


def load_graph(path: Path = GRAPH_FILE) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def argument_defaults(graph: Mapping[str, Any]) -> dict[str, str]:
    """Every launch argument's default as the string a launcher declares it with."""
    return {name: str(arg["default"]) for name, arg in graph["arguments"].items()}


def yaml_value(value: Any) -> str:
    """``value`` as YAML text that parses back to it (``-p name:=value`` is parsed as YAML).

    Quotes what would otherwise change type, e.g. a model path ``123`` stays a string.
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    return text.removesuffix("...").strip()


def parse_argument(name: str, spec: Mapping[str, Any], value: Any) -> Any:
    """Launch argument ``name``'s ``value`` as its declared ``type``; None when empty (unset)."""
    kind = spec.get("type", "str")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() not in _BOOLEANS:
            raise ValueError(f"argument {name!r} must be true or false, got {value!r}")
        return _BOOLEANS[str(value).lower()]
    if kind not in _CONVERTERS:
        raise ValueError(f"argument {name!r} has unknown type {kind!r} in graph.yaml")
    text = str(value).strip()
    if text == "":
        return None
    try:
        return _CONVERTERS[kind](text)
    except ValueError:
        raise ValueError(f"argument {name!r} must be a {kind}, got {value!r}") from None


def resolve_graph(
    arguments: Mapping[str, Any] | None = None, graph: Mapping[str, Any] | None = None
) -> ResolvedGraph:
    """The nodes of the profile named by ``arguments`` with all ``arguments`` applied.

    ``arguments`` are graph.yaml's ``arguments`` by name (strings as given on a command line, or
    typed values); missing ones take their defaults. Raises ``ValueError`` naming the culprit
    for an unknown profile or argument, a value of the wrong type, a missing required argument,
    an argument aimed at a node no profile runs, or a missing parameter file.
    """
    graph = load_graph() if graph is None else graph
    declared = graph["arguments"]
    raw: dict[str, Any] = argument_defaults(graph)
    for name, value in (arguments or {}).items():
        if name not in declared:
            raise ValueError(
                f"argument {name!r} is not declared in graph.yaml; declared: {list(declared)}"
            )
        raw[name] = value
    values = {name: parse_argument(name, declared[name], value) for name, value in raw.items()}

    profiles = graph["profiles"]
    profile = values["profile"]
    if profile not in profiles:
        raise ValueError(
            f"profile {profile!r} is not in graph.yaml; choose one of {list(profiles)}"
        )
    namespace = (values["namespace"] or "").strip("/")
    _check_argument_targets(graph)

    node_names = {node["name"] for node in profiles[profile]["nodes"]}
    renamed: dict[str, str] = {}  # topic -> new name, for the record topics
    for name, arg in declared.items():
        targets = {t["node"] for t in arg.get("parameters", []) + arg.get("remaps", [])}
        required = profile in arg.get("required_by", ())
        if required and values[name] is None and targets & node_names:
            raise ValueError(
                f"argument {name!r} is required by profile {profile!r} "
                f"({arg['description']}); it sets {_describe_targets(arg)}"
            )
        for target in arg.get("remaps", []):
            if values[name] is not None and target["node"] in node_names:
                renamed[target["from"]] = values[name]

    nodes = []
    for node in profiles[profile]["nodes"]:
        params_files = tuple(SHARE / p for p in node.get("params", []))
        for path in params_files:
            if not path.is_file():
                raise ValueError(f"node {node['name']!r}: parameter file {path} does not exist")
        parameters: dict[str, Any] = {}
        remappings: list[tuple[str, str]] = []
        for name, arg in declared.items():
            if name in LAUNCHER_ARGUMENTS or values[name] is None:
                continue  # unset: the parameter files and the node's defaults stay in force
            for target in arg.get("parameters", []):
                if target["node"] == node["name"]:
                    parameters[target["name"]] = values[name]
            for target in arg.get("remaps", []):
                if target["node"] == node["name"]:
                    remappings.append((target["from"], values[name]))
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

    record_topics = {
        _qualify(renamed.get(topic, topic), namespace): msgtype
        for topic, msgtype in graph["record_topics"].items()
    }
    recorder = graph["recorder"]
    return ResolvedGraph(
        profile=profile,
        namespace=namespace,
        record=values["record"],
        nodes=tuple(nodes),
        record_topics=record_topics,
        recorder_node=NodeSpec(
            package=recorder["package"],
            executable=recorder["executable"],
            name=recorder["name"],
            namespace=namespace,
            params_files=(),
        ),
    )


def _check_argument_targets(graph: Mapping[str, Any]) -> None:
    """Every node an argument targets runs in some profile (catches a misspelt node name)."""
    known = {node["name"] for p in graph["profiles"].values() for node in p["nodes"]}
    for name, arg in graph["arguments"].items():
        for target in arg.get("parameters", []) + arg.get("remaps", []):
            if target["node"] not in known:
                raise ValueError(
                    f"argument {name!r} targets node {target['node']!r}, which no profile "
                    f"runs; nodes: {sorted(known)}"
                )


def _describe_targets(arg: Mapping[str, Any]) -> str:
    parts = [f"{t['node']}.{t['name']}" for t in arg.get("parameters", [])]
    parts += [f"{t['node']} remap of {t['from']}" for t in arg.get("remaps", [])]
    return ", ".join(parts)


def _qualify(topic: str, namespace: str) -> str:
    if topic.startswith("/"):
        return topic
    return f"/{namespace}/{topic}" if namespace else f"/{topic}"


def find_executable(package: str, executable: str) -> Path | None:
    """``<prefix>/lib/<package>/<executable>`` from AMENT_PREFIX_PATH, as ``ros2 run`` finds it."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "lib" / package / executable
        if prefix and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def node_parameters(params_file: Path, node_name: str) -> dict[str, Any]:
    """Parameter values a ROS params file sets for ``node_name`` (nested keys joined by '.').

    Sections apply to a node when keyed by its name (optionally with a leading '/') or by '/**';
    a later section overrides an earlier one.
    """
    with open(params_file) as f:
        content = yaml.safe_load(f) or {}
    values: dict[str, Any] = {}
    for section, body in content.items():
        if section.lstrip("/") != node_name and section != "/**":
            continue
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ValueError(f"{params_file}: section {section!r} has no 'ros__parameters'")
        values.update(_flatten(body["ros__parameters"] or {}))
    return values


def node_parameter_keys(params_file: Path, node_name: str) -> set[str]:
    """Parameter names a ROS params file sets for ``node_name`` (see :func:`node_parameters`)."""
    return set(node_parameters(params_file, node_name))


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            values.update(_flatten(value, f"{prefix}{key}."))
        else:
            values[prefix + key] = value
    return values
