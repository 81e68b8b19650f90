"""Start the VLASH node graph of launch/graph.yaml without `ros2 launch`.

    source scripts/env.sh
    python scripts/vlash_launch.py --profile sim --strategy vlash --model CKPT_DIR \
        [--record] [--namespace NS] [--duration S]

Starts the same nodes with the same parameter files and ``--ros-args`` as launch/vlash.launch.py,
each as a subprocess in its own process group, its output in results/logs/<timestamp>/<node>.log.
``--record`` adds the project's MCAP recorder node (there is no ``ros2 bag`` here) writing
graph.yaml's record_topics into results/bags/<timestamp>. Ctrl-C, the end of ``--duration``, or
any node exiting stops all nodes, the recorder last so it keeps everything they published.
Exit status 0 when every node ran until asked to stop and then stopped within the grace period.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "launch"))
from process_group import ManagedProcess, ProcessGroup
from vlash_graph import ROOT, argument_defaults, find_executable, load_graph, resolve_graph

# How long nodes get to shut down after SIGINT before they are killed (the policy node joins its
# inference thread, the recorder drains and closes its bag).
STOP_GRACE_S = 20.0
_POLL_S = 0.2


def parse_args(graph: dict, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = argument_defaults(graph)
    for name, arg in graph["arguments"].items():
        flag = f"--{name.replace('_', '-')}"
        if arg.get("type") == "bool":
            parser.add_argument(flag, action="store_true", help=arg["description"])
        elif name == "profile":
            parser.add_argument(
                flag,
                default=defaults[name],
                choices=list(graph["profiles"]),
                help=arg["description"],
            )
        else:
            parser.add_argument(flag, default=defaults[name], help=arg["description"])
    parser.add_argument(
        "--duration", type=float, default=None, help="stop everything after this many seconds"
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "results",
        help="where logs/<timestamp>/ and bags/<timestamp>/ go (default: results/)",
    )
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error(f"--duration must be > 0 seconds, got {args.duration}")
    return args


def main(argv: list[str] | None = None) -> int:
    graph = load_graph()
    args = parse_args(graph, argv)
    try:
        resolved = resolve_graph({name: getattr(args, name) for name in graph["arguments"]}, graph)
    except ValueError as error:
        print(f"vlash_launch: {error}", file=sys.stderr)
        return 2

    stamp = time.strftime("%Y%m%d_%H%M%S")
    results = args.results_dir.resolve()  # node processes get absolute paths
    log_dir = results / "logs" / stamp
    specs = list(resolved.nodes)
    recorder = None
    if resolved.record:
        recorder = resolved.recorder(results / "bags" / stamp)
    commands = {}
    for spec in [*specs, *([recorder] if recorder else [])]:
        exe = find_executable(spec.package, spec.executable)
        if exe is None:
            print(
                f"vlash_launch: {spec.package}/{spec.executable} is not installed "
                "(run `make setup` and `source scripts/env.sh`)",
                file=sys.stderr,
            )
            return 1
        commands[spec.name] = [str(exe), *spec.ros_args()]

    env = dict(os.environ, ROS_LOG_DIR=str(log_dir / "ros"), PYTHONUNBUFFERED="1")
    print(
        f"vlash_launch: profile {resolved.profile}, node output in {log_dir}/<node>.log", flush=True
    )
    if recorder is not None:
        print(f"vlash_launch: recording {len(resolved.record_topics)} topics into "
              f"{recorder.parameters['output_dir']}", flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)  # e.g. a service manager: same as Ctrl-C
    # Two groups so the recorder is stopped only after every node it records has stopped.
    recorder_group = ProcessGroup(log_dir)
    nodes_group = ProcessGroup(log_dir)
    crashed = None
    try:
        if recorder is not None:
            _start(recorder_group, recorder.name, commands[recorder.name], env)
        for spec in specs:
            _start(nodes_group, spec.name, commands[spec.name], env)
        crashed = _wait(nodes_group, recorder_group, args.duration)
    except KeyboardInterrupt:
        print("vlash_launch: interrupted, stopping all nodes", flush=True)
    finally:
        # A second Ctrl-C while stopping must not skip the recorder.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        nodes_group.stop(STOP_GRACE_S)
        recorder_group.stop(STOP_GRACE_S)
    return _report([*nodes_group.processes, *recorder_group.processes], crashed)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _start(group: ProcessGroup, name: str, cmd: list[str], env: dict[str, str]) -> None:
    proc = group.start(name, cmd, env)
    print(f"vlash_launch: started {name} (pid {proc.popen.pid}): {' '.join(cmd)}", flush=True)


def _wait(
    nodes: ProcessGroup, recorder: ProcessGroup, duration: float | None
) -> ManagedProcess | None:
    """Block until ``duration`` seconds pass or a process exits (returned); Ctrl-C raises."""
    deadline = None if duration is None else time.monotonic() + duration
    while deadline is None or time.monotonic() < deadline:
        exited = nodes.first_exited() or recorder.first_exited()
        if exited is not None:
            print(f"vlash_launch: {exited.name} exited with {exited.popen.returncode}; "
                  "stopping all nodes", flush=True)  # fmt: skip
            return exited
        time.sleep(_POLL_S)
    print(f"vlash_launch: {duration} s elapsed, stopping all nodes", flush=True)
    return None


def _report(processes: list[ManagedProcess], crashed: ManagedProcess | None) -> int:
    """Print how each process ended; 0 only if none exited early and none had to be killed."""
    killed = [p for p in processes if p.popen.returncode == -signal.SIGKILL]
    for proc in processes:
        print(f"vlash_launch: {proc.name} stopped (exit {proc.popen.returncode})")
    for proc in [crashed] if crashed else []:
        print(f"--- last lines of {proc.log_path} ---\n{proc.log_tail()}", file=sys.stderr)
    for proc in killed:
        print(f"vlash_launch: {proc.name} did not stop within {STOP_GRACE_S} s and was killed",
              file=sys.stderr)  # fmt: skip
    if crashed is not None:
        return crashed.popen.returncode if crashed.popen.returncode > 0 else 1
    return 1 if killed else 0


if __name__ == "__main__":
    sys.exit(main())
