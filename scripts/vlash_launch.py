"""Start the VLASH node graph of launch/graph.yaml without `ros2 launch`.

    source scripts/env.sh
    python scripts/vlash_launch.py --profile sim --strategy vlash --image-topic /cam/image

Starts the same nodes with the same config/*.yaml and ``--ros-args`` as launch/vlash.launch.py,
each as a subprocess in its own process group. Ctrl-C, or any node exiting, stops all of them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "launch"))
from process_group import ProcessGroup
from vlash_graph import ROOT, argument_defaults, find_executable, load_graph, resolve_graph


def main(argv: list[str] | None = None) -> int:
    graph = load_graph()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="sim", choices=list(graph["profiles"]))
    parser.add_argument("--namespace", default="", help="namespace of all nodes")
    parser.add_argument(
        "--record", action="store_true", help="record the graph's topics (ros2 bag)"
    )
    for name, default in argument_defaults(graph).items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            default=default,
            help=graph["arguments"][name]["description"],
        )
    args = parser.parse_args(argv)
    resolved = resolve_graph(
        args.profile,
        {name: getattr(args, name) for name in graph["arguments"]},
        args.namespace,
        graph,
    )

    commands = []
    for spec in resolved.nodes:
        exe = find_executable(spec.package, spec.executable)
        if exe is None:
            print(
                f"vlash_launch: {spec.package}/{spec.executable} is not installed "
                "(run `make setup` and `source scripts/env.sh`)",
                file=sys.stderr,
            )
            return 1
        commands.append((spec.name, [str(exe), *spec.ros_args()]))
    if args.record:
        if shutil.which("ros2") is None:
            print("vlash_launch: --record needs `ros2 bag` (a ROS 2 distro)", file=sys.stderr)
            return 1
        bag = ROOT / "results" / "bags" / time.strftime("vlash_%Y%m%d_%H%M%S")
        commands.append(
            (
                "record",
                ["ros2", "bag", "record", "-s", "mcap", "-o", str(bag), *resolved.record_topics],
            )
        )

    with ProcessGroup() as group:
        for name, cmd in commands:
            print(f"vlash_launch: starting {name}: {' '.join(cmd)}", flush=True)
            group.start(name, cmd, os.environ)
        try:
            while (exited := group.first_exited()) is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("vlash_launch: Ctrl-C, stopping all nodes", flush=True)
            return 0
        code = exited.popen.returncode
        print(f"vlash_launch: {exited.name} exited with {code}; stopping all nodes", flush=True)
        return code


if __name__ == "__main__":
    sys.exit(main())
