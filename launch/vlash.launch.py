"""ros2 launch file of the VLASH suite, driven by launch/graph.yaml.

    ros2 launch launch/vlash.launch.py profile:=sim strategy:=vlash model:=/path/to/ckpt \
        image_topic:=/camera/color/image_raw namespace:=arm1 record:=true

Machines without ``ros2 launch`` start the same graph with scripts/vlash_launch.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vlash_graph import ROOT, argument_defaults, load_graph, resolve_graph

GRAPH = load_graph()


def _nodes(context, *_args, **_kwargs):
    config = {name: LaunchConfiguration(name).perform(context) for name in GRAPH["arguments"]}
    graph = resolve_graph(
        LaunchConfiguration("profile").perform(context),
        config,
        namespace=LaunchConfiguration("namespace").perform(context),
        graph=GRAPH,
    )
    actions = [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace or None,
            parameters=[*map(str, spec.params_files), spec.parameters],
            remappings=list(spec.remappings),
            output="screen",
        )
        for spec in graph.nodes
    ]
    if LaunchConfiguration("record").perform(context).lower() in ("true", "1"):
        bag = ROOT / "results" / "bags" / time.strftime("vlash_%Y%m%d_%H%M%S")
        cmd = ["ros2", "bag", "record", "-s", "mcap", "-o", str(bag), *graph.record_topics]
        actions.append(ExecuteProcess(cmd=cmd, output="screen"))
    return actions


def generate_launch_description() -> LaunchDescription:
    defaults = argument_defaults(GRAPH)
    arguments = [
        DeclareLaunchArgument(
            "profile", default_value="sim", description=f"Robot profile: {list(GRAPH['profiles'])}"
        ),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of all nodes."),
        DeclareLaunchArgument(
            "record", default_value="false", description="Record the graph's topics to MCAP."
        ),
        *(
            DeclareLaunchArgument(
                name, default_value=defaults[name], description=arg["description"]
            )
            for name, arg in GRAPH["arguments"].items()
        ),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])
