"""ros2 launch file of the VLASH suite, driven by launch/graph.yaml.

    ros2 launch vlash_bringup vlash.launch.py profile:=sim strategy:=vlash model:=/path/to/ckpt \
        image_topic:=/camera/color/image_raw namespace:=arm1 record:=true

Every argument is declared in graph.yaml (see them with ``--show-args``).
``record:=true`` adds ``ros2 bag record -s mcap`` of the graph's record_topics into
./results/bags/<timestamp>. Machines without ``ros2 launch`` start the same graph with
``ros2 run vlash_bringup vlash_launch`` (or ``python scripts/vlash_launch.py`` in the tree).
"""

from __future__ import annotations

import time
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from vlash_bringup.graph import argument_defaults, load_graph, resolve_graph

GRAPH = load_graph()


def _typed(value):
    # launch_ros parses plain strings as YAML; a string parameter must stay a string.
    return ParameterValue(value, value_type=str) if isinstance(value, str) else value


def _actions(context, *_args, **_kwargs):
    graph = resolve_graph(
        {name: LaunchConfiguration(name).perform(context) for name in GRAPH["arguments"]}, GRAPH
    )
    actions = [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace or None,
            parameters=[
                *map(str, spec.params_files),
                {key: _typed(value) for key, value in spec.parameters.items()},
            ],
            remappings=list(spec.remappings),
            output="screen",
        )
        for spec in graph.nodes
    ]
    if graph.record:
        bag = Path("results") / "bags" / time.strftime("%Y%m%d_%H%M%S")
        cmd = ["ros2", "bag", "record", "-s", "mcap", "-o", str(bag), *graph.record_topics]
        actions += [
            LogInfo(msg=f"recording {len(graph.record_topics)} topics into {bag}"),
            ExecuteProcess(cmd=cmd, output="screen"),
        ]
    return actions


def generate_launch_description() -> LaunchDescription:
    defaults = argument_defaults(GRAPH)
    arguments = [
        DeclareLaunchArgument(name, default_value=defaults[name], description=arg["description"])
        for name, arg in GRAPH["arguments"].items()
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_actions)])
