"""launch/graph.yaml resolves as both launchers use it, matches the nodes that exist, and the
project launcher (scripts/vlash_launch.py) starts and stops the graph cleanly."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader

from vlash_bringup.graph import (
    LAUNCHER_ARGUMENTS,
    SHARE,
    NodeSpec,
    find_executable,
    load_graph,
    node_parameter_keys,
    node_parameters,
    parse_argument,
    resolve_graph,
    yaml_value,
)
from vlash_core.so101 import SO101_JOINT_NAMES, SO101_MAX_JOINT_SPEED_RAD_S
from vlash_msgs.msg import ActionChunk, ExecutedActions
from vlash_policy.recording.bag_io import DEFAULT_TOPICS, metadata_topic_counts

pytest_plugins = ("checkpoints",)

ROOT = Path(__file__).resolve().parent.parent
GRAPH = load_graph()
PROFILES = list(GRAPH["profiles"])
PUBLISHER = Path(__file__).parent / "scripts" / "publish_samples.py"
LAUNCHER = ROOT / "scripts" / "vlash_launch.py"
MODEL = "/ckpt/so101"
LEROBOT_CONFIG = {
    "type": "smolvla",
    "input_features": {
        "observation.images.front": {"type": "VISUAL", "shape": [3, 96, 96]},
        "observation.state": {"type": "STATE", "shape": [6]},
    },
    "output_features": {"action": {"type": "ACTION", "shape": [6]}},
}
# One value per argument type, each different from graph.yaml's defaults.
SAMPLES = {"str": "/sample/value", "float": "12.5", "int": "3", "bool": "true"}
# Bounded waits for real processes (the policy imports torch and loads its checkpoint first).
START_TIMEOUT_S = 180.0
KEEP_ALL = QoSProfile(depth=100_000, reliability=ReliabilityPolicy.RELIABLE)


def _resolve(profile: str, **arguments: str):
    return resolve_graph({"profile": profile, "model": MODEL, **arguments}, GRAPH)


# --- graph.yaml and config/ ------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_each_parameter_file_has_a_section_for_its_node(profile):
    for spec in _resolve(profile).nodes:
        for path in spec.params_files:
            sections = yaml.safe_load(path.read_text())
            assert spec.name in sections, f"{path} has no section for node {spec.name!r}"
            assert node_parameter_keys(path, spec.name), f"{path} sets nothing for {spec.name}"


def test_the_yaml_repeats_the_python_defaults_exactly():
    assert load_graph()["record_topics"] == DEFAULT_TOPICS
    executor = node_parameters(SHARE / "config" / "so101" / "executor.yaml", "executor")
    assert executor["joint_names"] == list(SO101_JOINT_NAMES)
    assert executor["max_joint_velocity"] == [SO101_MAX_JOINT_SPEED_RAD_S] * len(SO101_JOINT_NAMES)


def test_every_config_file_is_used_by_a_profile():
    used = {path for p in PROFILES for spec in _resolve(p).nodes for path in spec.params_files}
    assert set((SHARE / "config").rglob("*.yaml")) == used


def test_the_bringup_package_installs_launch_files_and_every_parameter_file():
    """``ros2 launch vlash_bringup vlash.launch.py`` needs them under share/, not in the tree."""
    from ament_index_python.packages import get_package_share_directory

    installed = Path(get_package_share_directory("vlash_bringup"))
    assert installed != SHARE  # the share directory of install/, not the source tree
    for folder in ("launch", "config"):
        tree = {p.relative_to(SHARE) for p in (SHARE / folder).rglob("*") if p.is_file()}
        share = {p.relative_to(installed) for p in (installed / folder).rglob("*") if p.is_file()}
        assert tree == share and tree, folder


def test_profile_files_do_not_repeat_a_value_another_profile_sets():
    """One source of truth: a value two profiles share belongs in a shared file."""
    seen: dict[tuple[str, str, str], Path] = {}
    for path in sorted((SHARE / "config" / "profiles").rglob("*.yaml")):
        for node, body in yaml.safe_load(path.read_text()).items():
            for key, value in body["ros__parameters"].items():
                entry = (node, key, yaml_value(value))
                assert entry not in seen, f"{path} and {seen[entry]} both set {node}.{key}"
                seen[entry] = path


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("argument", list(GRAPH["arguments"]))
def test_each_argument_resolves_for_each_profile(profile, argument):
    spec = GRAPH["arguments"][argument]
    raw = profile if argument == "profile" else SAMPLES[spec.get("type", "str")]
    value = parse_argument(argument, spec, raw)
    graph = resolve_graph({"profile": profile, "model": MODEL, argument: raw}, GRAPH)
    nodes = {node.name: node for node in graph.nodes}
    assert set(nodes) == {node["name"] for node in GRAPH["profiles"][profile]["nodes"]}
    if argument == "profile":
        assert graph.profile == profile
    elif argument == "namespace":
        assert all(node.namespace == "sample/value" for node in graph.nodes)
        assert all(topic.startswith("/sample/value/") for topic in graph.record_topics)
    elif argument == "record":
        assert graph.record is True
    assert argument in LAUNCHER_ARGUMENTS or spec.get("parameters") or spec.get("remaps")
    for target in spec.get("parameters", []):
        if target["node"] in nodes:
            assert nodes[target["node"]].parameters[target["name"]] == value
    for target in spec.get("remaps", []):
        if target["node"] in nodes:
            assert (target["from"], value) in nodes[target["node"]].remappings
            assert value in graph.record_topics  # recorded under its new name


def test_arguments_set_typed_parameters_remaps_and_namespace():
    graph = resolve_graph(
        {
            "profile": "sim",
            "strategy": "sync",
            "model": "123",
            "image_topic": "/cam/image",
            "control_rate_hz": "50",
            "namespace": "/arm1/",
        },
        GRAPH,
    )
    nodes = {spec.name: spec for spec in graph.nodes}
    assert nodes["executor"].parameters == {"strategy": "sync", "control_rate_hz": 50.0}
    assert nodes["sim_arm"].parameters == {"sim_rate_hz": 50.0}
    assert nodes["policy"].parameters == {"strategy": "sync", "model_path": "123"}
    assert all(spec.namespace == "arm1" for spec in graph.nodes)
    assert graph.record_topics["/cam/image"] == "sensor_msgs/msg/Image"
    assert graph.record_topics["/arm1/vlash/action_chunk"] == "vlash_msgs/msg/ActionChunk"
    assert graph.record is False
    # In a namespace the profile file's values travel one by one, before the arguments that
    # override them; a model path of digits stays a string and the rate a double.
    assert nodes["policy"].ros_args() == [
        "--ros-args", "-r", "__node:=policy", "-r", "__ns:=/arm1",
        "-p", "execution_horizon:=8",
        "-p", "strategy:=sync", "-p", "model_path:='123'",
        "-r", "camera/image_raw:=/cam/image",
    ]  # fmt: skip
    assert "control_rate_hz:=50.0" in nodes["executor"].ros_args()
    recorder = graph.recorder(Path("/bags/run1"))
    assert (recorder.name, recorder.namespace) == ("recorder", "arm1")
    assert recorder.parameters["topics"][1] == "/cam/image:sensor_msgs/msg/Image"


def test_configured_values_come_from_the_arguments_then_the_last_file():
    nodes = {spec.name: spec for spec in _resolve("so101", strategy="sync").nodes}
    executor = nodes["executor"]
    assert executor.configured("strategy") == "sync"  # the argument
    assert executor.configured("command_interface") == "joint_state"  # the profile's own file
    assert executor.configured("joint_names")[0] == "shoulder_pan"  # the shared SO-101 file
    assert executor.configured("control_rate_hz") is None  # the node's default applies
    assert nodes["policy"].configured("model_path") == MODEL


def test_a_namespaced_node_gets_its_files_values_explicitly(ros_graph):
    """rcl applies a file section keyed `executor` to /executor only, never to /arm1/executor."""
    executor = next(s for s in _resolve("sim", namespace="arm1").nodes if s.name == "executor")
    args = executor.ros_args()
    assert "--params-file" not in args
    limits = executor.file_parameters()["position_lower"]
    assert f"position_lower:={yaml_value(limits)}" in args and "strategy:=vlash" in args
    ros_graph.start_node(executor.package, executor.executable, args, name="executor")
    client = ros_graph.node.create_client(GetParameters, "/arm1/executor/get_parameters")
    ros_graph.spin_until(client.service_is_ready, START_TIMEOUT_S, "the executor's parameters")
    future = client.call_async(GetParameters.Request(names=["position_lower"]))
    ros_graph.spin_until(future.done, 30.0, "the executor's get_parameters answer")
    assert list(future.result().values[0].double_array_value) == limits


def test_empty_arguments_leave_the_parameter_files_in_force():
    nodes = {spec.name: spec for spec in _resolve("so101").nodes}
    assert set(nodes) == {"executor", "policy"}
    assert nodes["executor"].parameters == {"strategy": "vlash"}  # no control_rate_hz
    assert nodes["policy"].remappings == ()


def test_bad_profile_argument_value_and_missing_model_are_rejected_by_name():
    with pytest.raises(ValueError, match=r"profile 'mars' is not in graph\.yaml.*'sim'"):
        _resolve("mars")
    with pytest.raises(ValueError, match=r"argument 'speed' is not declared in graph\.yaml"):
        _resolve("sim", speed="2")
    with pytest.raises(ValueError, match=r"argument 'control_rate_hz' must be a float, got 'fast'"):
        _resolve("sim", control_rate_hz="fast")
    with pytest.raises(ValueError, match=r"argument 'record' must be true or false, got 'maybe'"):
        _resolve("sim", record="maybe")
    with pytest.raises(ValueError, match=r"argument 'model' is required by profile 'so101'"):
        resolve_graph({"profile": "so101"}, GRAPH)


def test_an_argument_aimed_at_a_node_no_profile_runs_is_rejected():
    graph = {**GRAPH, "arguments": {**GRAPH["arguments"]}}
    graph["arguments"]["gain"] = {
        "default": "1", "description": "-", "parameters": [{"node": "exectuor", "name": "gain"}]
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"argument 'gain' targets node 'exectuor'"):
        resolve_graph({"model": MODEL}, graph)


# --- the nodes the graph names ---------------------------------------------------------------


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


def _configured_nodes() -> dict[str, tuple[str, str, set[str]]]:
    """Node name -> (package, executable, every key any profile's files or arguments set)."""
    nodes: dict[str, tuple[str, str, set[str]]] = {}
    for profile in PROFILES:
        arguments = {
            name: SAMPLES[arg.get("type", "str")]
            for name, arg in GRAPH["arguments"].items()
            if name not in LAUNCHER_ARGUMENTS
        }
        graph = _resolve(profile, **arguments)
        for spec in [*graph.nodes, graph.recorder(Path("/bag"))]:
            _, _, keys = nodes.setdefault(spec.name, (spec.package, spec.executable, set()))
            keys |= set(spec.parameters)
            for path in spec.params_files:
                keys |= node_parameter_keys(path, spec.name)
    return nodes


CONFIGURED = _configured_nodes()


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_node_is_installed_and_declares_every_configured_parameter(
    name, ros_graph, tiny_checkpoint, tmp_path
):
    """Every executable graph.yaml names is an installed entry point, and the running node
    (the policy with a tiny checkpoint, the recorder with a fresh bag directory) lists every
    parameter that any profile's files or launch arguments set, via list_parameters."""
    package, executable, configured = CONFIGURED[name]
    scripts = importlib.metadata.distribution(package).entry_points.select(group="console_scripts")
    assert executable in scripts.names, f"{package} has no {executable} entry point"
    assert find_executable(package, executable), f"{package}/{executable} is not installed"

    parameters = {
        "policy": {"model_path": str(tiny_checkpoint)},
        "recorder": {"output_dir": str(tmp_path / "bag")},
    }.get(name, {})
    spec = NodeSpec(package, executable, name, "", (), parameters)
    ros_graph.start_node(package, executable, spec.ros_args(), name=name)
    client = ros_graph.node.create_client(ListParameters, f"/{name}/list_parameters")
    ros_graph.spin_until(client.service_is_ready, START_TIMEOUT_S, f"{name}'s parameters")
    future = client.call_async(ListParameters.Request())
    ros_graph.spin_until(future.done, 30.0, f"{name}'s list_parameters answer")
    declared = set(future.result().result.names)
    assert configured - declared == set(), f"{name} does not declare these configured keys"


# --- the project launcher ----------------------------------------------------------------


def _launcher(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(LAUNCHER), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _assert_all_stopped(output: str, profile: str, extra: tuple[str, ...] = ()) -> None:
    """Every node was started and reported stopped, and no process of theirs is left."""
    started = dict(re.findall(r"started (\w+) \(pid (\d+)\)", output))
    names = [node["name"] for node in GRAPH["profiles"][profile]["nodes"]]
    assert sorted(started) == sorted([*names, *extra]), output
    for name, pid in started.items():
        assert f"{name} stopped (exit" in output, output
        with pytest.raises(ProcessLookupError):
            os.killpg(int(pid), 0)  # the node's process group is gone, children included


def _broken_checkpoint(tmp_path: Path, tiny: Path) -> Path:
    broken = tmp_path / "no_weights"
    shutil.copytree(tiny, broken)
    (broken / "model.safetensors").unlink()
    return broken


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "so101"], "argument 'model' is required by profile 'so101'"),
        (["--model", "{tmp}/nowhere"], "checkpoint directory {tmp}/nowhere does not exist"),
        (["--model", "{broken}"], "checkpoint {broken} lacks model.safetensors;"),
        (["--strategy", "vlsh"], "strategy 'vlsh' (--strategy, node executor) is not a switching"),
        (
            ["--profile", "ros2_control", "--model", "{tiny}"],
            "but the executor commands ['joint_1', 'joint_2',",
        ),
        (["--control-rate-hz", "fast"], "argument 'control_rate_hz' must be a float, got 'fast'"),
        (["--backend", "lerobot"], "--backend lerobot needs --model: the LeRobot checkpoint"),
        (["--backend", "lerobot", "--model", "{tiny}"], "names no policy type: not a LeRobot"),
        (
            ["--backend", "lerobot", "--model", "{lerobot}", "--lerobot-cameras", "front=top"],
            "unknown keys ['top'], image features not mapped ['observation.images.front']",
        ),
    ],
    ids=[
        "no-model",
        "model-nowhere",
        "no-safetensors",
        "bad-strategy",
        "joints",
        "bad-rate",
        "lerobot-no-model",
        "lerobot-not-lerobot",
        "lerobot-cameras",
    ],
)
def test_launcher_refuses_bad_arguments_before_starting_a_node(
    args, message, tmp_path, tiny_checkpoint
):
    paths = {"tmp": tmp_path, "tiny": tiny_checkpoint, "lerobot": tmp_path / "lerobot"}
    paths["broken"] = _broken_checkpoint(tmp_path, tiny_checkpoint)
    # What the launcher reads of a LeRobot checkpoint: its config.json.
    paths["lerobot"].mkdir()
    (paths["lerobot"] / "config.json").write_text(json.dumps(LEROBOT_CONFIG))
    argv = [a.format(**paths) for a in args]
    result = subprocess.run(
        [sys.executable, str(LAUNCHER), *argv, "--results-dir", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()  # one message
    assert line.startswith("vlash_launch: ") and message.format(**paths) in line
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "results").exists()  # no log dir: nothing started


@pytest.mark.parametrize(
    ("package", "executable", "parameter", "error"),
    [
        ("vlash_policy", "policy_node", "model_path:=/nowhere", "CheckpointError: checkpoint "
         "directory /nowhere does not exist"),
        ("vlash_executor", "executor_node", "strategy:=vlsh", "ValueError: unknown switching "
         "strategy 'vlsh'"),
        ("vlash_sim", "sim_arm_node", "sim_rate_hz:=600.0", "InvalidParameterValueException"),
        ("vlash_policy", "recorder_node", "topics:=['x']", "ValueError: topic spec 'x' must be"),
    ],
    ids=["policy", "executor", "sim_arm", "recorder"],
)  # fmt: skip
def test_a_node_that_fails_to_start_exits_with_its_own_error_only(
    package, executable, parameter, error, ros_graph, tmp_path
):
    """No second traceback from destroy_node on the half-built node: one line, exit 1."""
    exe = find_executable(package, executable)
    cmd = [str(exe), "--ros-args", "-p", parameter, "-p", f"output_dir:={tmp_path / 'bag'}"]
    result = subprocess.run(cmd, env=ros_graph.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{executable}: failed to start: {error}"), (
        result.stderr
    )


def test_launcher_names_the_node_that_failed_to_start(ros_graph, tiny_checkpoint, tmp_path):
    """A value only the node checks (sim_rate_hz <= 500): the node's own error, once; all stop."""
    launcher = _launcher(
        ros_graph.env, "--model", str(tiny_checkpoint), "--control-rate-hz", "600",
        "--results-dir", str(tmp_path),
    )  # fmt: skip
    try:
        output, _ = launcher.communicate(timeout=START_TIMEOUT_S)
    finally:
        launcher.kill()
    assert launcher.returncode == 1, output
    failures = [line for line in output.splitlines() if "failed to start" in line]
    assert len(failures) == 1, output
    assert failures[0].startswith(
        "vlash_launch: sim_arm failed to start: InvalidParameterValueException"
    )
    assert "Traceback" not in output and "summary" not in output
    _assert_all_stopped(output, "sim")


def test_launcher_runs_for_a_duration_and_stops_every_node(ros_graph, tiny_checkpoint, tmp_path):
    launcher = _launcher(
        ros_graph.env,
        "--profile", "sim", "--model", str(tiny_checkpoint), "--duration", "3",
        "--results-dir", str(tmp_path),
    )  # fmt: skip
    try:
        output, _ = launcher.communicate(timeout=START_TIMEOUT_S)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, output
    assert "3.0 s elapsed, stopping all nodes" in output
    _assert_all_stopped(output, "sim")
    (log_dir,) = (tmp_path / "logs").iterdir()
    assert {p.name for p in log_dir.glob("*.log")} == {"sim_arm.log", "executor.log", "policy.log"}


def test_launcher_ctrl_c_stops_the_recorder_last(ros_graph, tiny_checkpoint, tmp_path):
    """After Ctrl-C the bag still holds the executor's last report: the recorder outlived it."""
    chunks: list[ActionChunk] = []
    steps: list[int] = []
    node = ros_graph.node
    node.create_subscription(ActionChunk, "/vlash/action_chunk", chunks.append, KEEP_ALL)
    node.create_subscription(
        ExecutedActions, "/vlash/executed_actions", lambda m: steps.append(m.step), KEEP_ALL
    )
    launcher = _launcher(
        ros_graph.env,
        "--profile", "sim", "--model", str(tiny_checkpoint), "--record",
        "--results-dir", str(tmp_path),
    )  # fmt: skip
    try:
        ros_graph.spin_until(
            lambda: len(chunks) >= 2 or launcher.poll() is not None,
            START_TIMEOUT_S,
            "two action chunks from the launched graph",
        )
        assert launcher.poll() is None, launcher.communicate()[0]
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        output, _ = launcher.communicate(timeout=120.0)
    finally:
        launcher.kill()
    _drain(ros_graph, steps)
    assert launcher.returncode == 0, output
    _assert_all_stopped(output, "sim", extra=("recorder",))

    (bag,) = (tmp_path / "bags").iterdir()
    counts = metadata_topic_counts(bag)
    assert counts["/vlash/action_chunk"] > 0 and counts["/vlash/executed_actions"] > 0
    # The recorder, launched with the others, may discover a publisher after this older process
    # did and miss its first messages, but it stops last: it holds the last of each stream.
    last = {}
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            if connection.topic == "/vlash/executed_actions":
                step = deserialize_message(bytes(raw), ExecutedActions).step
                last["step"] = max(step, last.get("step", step))
            elif connection.topic == "/vlash/action_chunk":
                chunk_id = deserialize_message(bytes(raw), ActionChunk).chunk_id
                last["chunk"] = max(chunk_id, last.get("chunk", chunk_id))
    assert last == {"step": max(steps), "chunk": max(c.chunk_id for c in chunks)}, last


def _drain(ros_graph, values: list) -> None:
    """Spin the observer until a spin slice adds nothing to ``values``."""
    last = [-1]

    def quiet() -> bool:
        settled = len(values) == last[0]
        last[0] = len(values)
        return settled

    ros_graph.spin_until(quiet, 30.0, "the observer to take the messages it received")
