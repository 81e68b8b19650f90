"""launch/graph.yaml resolves as both launchers use it, and matches the nodes that exist."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.srv import ListParameters
from vlash_graph import (
    NodeSpec,
    find_executable,
    load_graph,
    node_parameter_keys,
    resolve_graph,
)

GRAPH = load_graph()
PUBLISHER = Path(__file__).parent / "scripts" / "publish_samples.py"


def _all_nodes() -> list[NodeSpec]:
    """Every distinct node of every profile, with default arguments."""
    nodes: dict[tuple[str, str, str], NodeSpec] = {}
    for profile in GRAPH["profiles"]:
        for spec in resolve_graph(profile, graph=GRAPH).nodes:
            nodes.setdefault((spec.package, spec.executable, spec.name), spec)
    return list(nodes.values())


@pytest.mark.parametrize("profile", list(GRAPH["profiles"]))
def test_each_node_has_a_section_in_each_of_its_parameter_files(profile):
    for spec in resolve_graph(profile, graph=GRAPH).nodes:
        assert spec.params_files, f"{spec.name} has no parameter file"
        for path in spec.params_files:
            sections = yaml.safe_load(path.read_text())
            assert spec.name in sections, f"{path} has no section for node {spec.name!r}"
            node_parameter_keys(path, spec.name)  # raises on a section without ros__parameters


def test_arguments_set_parameters_remaps_and_namespace():
    graph = resolve_graph(
        "sim",
        {"strategy": "sync", "model": "/ckpt/so101", "image_topic": "/cam/image"},
        namespace="/arm1/",
        graph=GRAPH,
    )
    nodes = {spec.name: spec for spec in graph.nodes}
    assert set(nodes) == {"sim_arm", "executor", "policy"}
    assert nodes["executor"].parameters == {"strategy": "sync"}
    assert nodes["policy"].parameters == {"strategy": "sync", "model_path": "/ckpt/so101"}
    assert nodes["policy"].remappings == (("camera/image_raw", "/cam/image"),)
    assert nodes["sim_arm"].parameters == {} and nodes["sim_arm"].remappings == ()
    assert all(spec.namespace == "arm1" for spec in graph.nodes)
    assert "/arm1/vlash/action_chunk" in graph.record_topics
    assert nodes["policy"].ros_args() == [
        "--ros-args", "-r", "__node:=policy", "-r", "__ns:=/arm1",
        "--params-file", str(nodes["policy"].params_files[0]),
        "-p", "strategy:=sync", "-p", "model_path:=/ckpt/so101",
        "-r", "camera/image_raw:=/cam/image",
    ]  # fmt: skip


def test_empty_arguments_leave_the_parameter_files_in_force():
    nodes = {spec.name: spec for spec in resolve_graph("so101", graph=GRAPH).nodes}
    assert set(nodes) == {"executor", "policy"}
    assert nodes["policy"].parameters == {"strategy": "vlash"}  # model "" is not passed
    assert nodes["policy"].remappings == ()


def test_unknown_profile_and_argument_are_rejected_by_name():
    with pytest.raises(ValueError, match=r"profile .mars. is not in graph\.yaml"):
        resolve_graph("mars", graph=GRAPH)
    with pytest.raises(ValueError, match="argument 'speed' is not declared"):
        resolve_graph("sim", {"speed": "2"}, graph=GRAPH)


def test_ros_args_rename_namespace_and_remap_a_real_node(ros_graph):
    # The sample publisher stands in for a node: the same ros_args must rename and place it.
    spec = NodeSpec(
        package="-", executable="-", name="renamed", namespace="ns1", params_files=(),
        remappings=(("samples/TaskEvent", "events"),),
    )  # fmt: skip
    ros_graph.start_script(PUBLISHER, *spec.ros_args(), name="publisher")
    ros_graph.wait_for_topic("/ns1/events")
    # Node names travel on their own discovery topic and may arrive after the publisher.
    ros_graph.spin_until(
        lambda: ("renamed", "/ns1") in ros_graph.node.get_node_names_and_namespaces(),
        20.0,
        "node 'renamed' in namespace /ns1",
    )


def _declared_by_running_node(spec: NodeSpec, ros_graph) -> set[str]:
    """Parameter names the node, started with its config, lists via list_parameters."""
    ros_graph.start_node(spec.package, spec.executable, spec.ros_args(), name=spec.name)
    client = ros_graph.node.create_client(ListParameters, f"/{spec.name}/list_parameters")
    ros_graph.spin_until(client.service_is_ready, 120.0, f"{spec.name}'s list_parameters service")
    future = client.call_async(ListParameters.Request())
    ros_graph.spin_until(future.done, 30.0, f"{spec.name}'s list_parameters answer")
    return set(future.result().result.names)


@pytest.mark.parametrize("spec", _all_nodes(), ids=lambda s: f"{s.package}/{s.executable}")
def test_node_is_installed_and_declares_every_configured_parameter(spec, ros_graph):
    """Every executable graph.yaml names is an installed entry point, and the node declares every
    parameter its files and launch arguments set.

    Declared parameters come from the running node's list_parameters service. A node whose
    module has a ``PARAMETERS`` declaration table (name, default, descriptor) is checked against
    the table instead: such a node (the policy) may need resources to start, e.g. a checkpoint.
    """
    scripts = importlib.metadata.distribution(spec.package).entry_points.select(
        group="console_scripts"
    )
    if spec.executable not in scripts.names:
        pytest.skip(
            f"node not implemented yet: {spec.package} has no {spec.executable} entry point"
        )
    assert find_executable(spec.package, spec.executable), "entry point declared but not installed"

    module = importlib.import_module(scripts[spec.executable].module)
    table = getattr(module, "PARAMETERS", None)
    if table is not None:
        declared = {entry[0] for entry in table}
    else:
        declared = _declared_by_running_node(spec, ros_graph)
    configured = set(spec.parameters)
    for path in spec.params_files:
        configured |= node_parameter_keys(path, spec.name)
    assert configured - declared == set(), f"{spec.name} does not declare these configured keys"
