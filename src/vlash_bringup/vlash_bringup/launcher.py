"""Start the VLASH node graph of the bring-up's launch/graph.yaml without `ros2 launch`.

    source scripts/env.sh
    ros2 run vlash_bringup vlash_launch [--profile sim] [--model CKPT_DIR] [--strategy vlash] \
        [--record] [--namespace NS] [--duration S]

Checks first, starting nothing when a check fails (exit status 2): the launch arguments, the
strategy, and the policy checkpoint (``--model``, default the embedded one): directory, files
and its joint names against those the profile's executor commands. Then starts the same nodes
with the same parameter files and ``--ros-args`` as launch/vlash.launch.py, each as a
subprocess in its own process group, its output in ./results/logs/<timestamp>/<node>.log.
``--record`` adds the project's MCAP recorder node (there is no ``ros2 bag`` here) writing
graph.yaml's record_topics into ./results/bags/<timestamp>.

While the graph runs, a monitor node in this process (:mod:`vlash_bringup.run_monitor`) says when
each node is ready (the policy: its first chunk, after loading the model), shows a live status line
(control rate, the arm's joint-state rate, Δ, chunks, targets), warns when the simulator runs below
real time (its achieved rate against its configured ``sim_rate_hz``), and ends with a summary.
Ctrl-C, the end of ``--duration`` (counted from the start), or any node exiting stops all nodes, the
recorder last so it keeps everything they published. A node that fails to start is named with its
own error. Exit status 0 when every node ran until asked to stop and then stopped within the grace
period; otherwise the failed node's status (or 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from vlash_bringup.graph import (
    NodeSpec,
    ResolvedGraph,
    argument_defaults,
    find_executable,
    load_graph,
    resolve_graph,
)
from vlash_bringup.process_group import ManagedProcess, ProcessGroup
from vlash_bringup.run_monitor import RATE_WINDOW_S, READY_TOPICS, Monitor, StatusLine, format_rate
from vlash_core.node_runner import START_FAILURE
from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_core.strategies import STRATEGY_NAMES
from vlash_policy.checkpoint_preflight import (
    CheckpointError,
    CheckpointSummary,
    preflight_checkpoint,
)
from vlash_policy.lerobot_backend.checkpoint import (
    DEFAULT_LEROBOT_CAMERAS,
    parse_camera_keys,
    preflight_lerobot_checkpoint,
)

# How long nodes get to shut down after SIGINT before they are killed (the policy node joins its
# inference thread, the recorder drains and closes its bag).
STOP_GRACE_S = 20.0
_POLL_S = 0.2
# The simulator counts as below real time under this fraction of its configured rate, measured
# over run_monitor.RATE_WINDOW_S once every node is ready (loading the policy slows it first).
SLOW_SIM_FRACTION = 0.9
# What each node's readiness means, for the "ready" lines.
_READY_MEANS = {
    "sim_arm_node": "first joint state",
    "executor_node": "first step report",
    "policy_node": "first action chunk; the model is loaded",
}


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
        default=Path("results"),
        help="where logs/<timestamp>/ and bags/<timestamp>/ go (default: ./results/)",
    )
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error(f"--duration must be > 0 seconds, got {args.duration}")
    return args


def _by_executable(resolved: ResolvedGraph, executable: str) -> NodeSpec | None:
    return next((spec for spec in resolved.nodes if spec.executable == executable), None)


def preflight(resolved: ResolvedGraph) -> CheckpointSummary | None:
    """Check what would otherwise fail inside a started node; ValueError names the culprit.

    Returns the policy's checkpoint (None for a profile without a policy).
    """
    for spec in resolved.nodes:
        strategy = spec.configured("strategy")
        if strategy is not None and strategy not in STRATEGY_NAMES:
            raise ValueError(
                f"strategy {strategy!r} (--strategy, node {spec.name}) is not a switching "
                f"strategy; choose one of {', '.join(STRATEGY_NAMES)}"
            )
    policy = _by_executable(resolved, "policy_node")
    if policy is None:
        return None
    executor = _by_executable(resolved, "executor_node")
    joints = executor.configured("joint_names") if executor is not None else None
    # An executor without configured joint names commands the SO-101's (its declared default).
    joint_names = list(joints) if joints is not None else list(SO101_JOINT_NAMES)
    if policy.configured("backend") == "lerobot":
        model = policy.configured("model_path")
        if not model:
            raise ValueError("--backend lerobot needs --model: the LeRobot checkpoint directory")
        cameras = policy.configured("lerobot_cameras") or DEFAULT_LEROBOT_CAMERAS
        preflight_lerobot_checkpoint(
            model, camera_keys=parse_camera_keys(cameras), joint_count=len(joint_names)
        )
        return None
    return preflight_checkpoint(policy.configured("model_path"), joint_names=joint_names)


def main(argv: list[str] | None = None) -> int:
    graph = load_graph()
    args = parse_args(graph, argv)
    try:
        resolved = resolve_graph({name: getattr(args, name) for name in graph["arguments"]}, graph)
        checkpoint = preflight(resolved)
    except (CheckpointError, ValueError) as error:
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
    if checkpoint is not None:
        print(f"vlash_launch: policy checkpoint {checkpoint.path}", flush=True)
    if recorder is not None:
        print(f"vlash_launch: recording {len(resolved.record_topics)} topics into "
              f"{recorder.parameters['output_dir']}", flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)  # e.g. a service manager: same as Ctrl-C
    monitor = Monitor(namespace=resolved.namespace)  # subscribed before any publisher exists
    watch = Watch(monitor, [*specs, *([recorder] if recorder else [])], args.duration)
    # Two groups so the recorder is stopped only after every node it records has stopped.
    recorder_group = ProcessGroup(log_dir)
    nodes_group = ProcessGroup(log_dir)
    crashed = None
    try:
        if recorder is not None:
            _start(recorder_group, recorder.name, commands[recorder.name], env)
        for spec in specs:
            _start(nodes_group, spec.name, commands[spec.name], env)
        crashed = watch.run(nodes_group, recorder_group)
    except KeyboardInterrupt:
        watch.line.print("vlash_launch: interrupted, stopping all nodes")
    finally:
        # A second Ctrl-C while stopping must not skip the recorder.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        watch.line.end()
        watch.stop()
        nodes_group.stop(STOP_GRACE_S)
        recorder_group.stop(STOP_GRACE_S)
        monitor.close()
    processes = [*nodes_group.processes, *recorder_group.processes]
    killed = _report_stops(processes)
    failure = _start_failure(crashed) if crashed is not None else None
    if failure is None:  # a node that never started leaves nothing to sum up
        print(watch.summary(recorder.parameters["output_dir"] if recorder else None))
    if crashed is None:
        return 1 if killed else 0
    if failure is not None:
        print(f"vlash_launch: {crashed.name} failed to start: {failure} (log: {crashed.log_path})",
              file=sys.stderr)  # fmt: skip
    else:
        print(f"--- last lines of {crashed.log_path} ---\n{crashed.log_tail()}", file=sys.stderr)
    return crashed.popen.returncode if crashed.popen.returncode > 0 else 1


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _start(group: ProcessGroup, name: str, cmd: list[str], env: dict[str, str]) -> None:
    proc = group.start(name, cmd, env)
    print(f"vlash_launch: started {name} (pid {proc.popen.pid}): {' '.join(cmd)}", flush=True)


class Watch:
    """Follows the started graph: ready lines, the status line, the slow-simulator warning."""

    def __init__(self, monitor: Monitor, specs: list[NodeSpec], duration: float | None) -> None:
        self.monitor = monitor
        self.specs = specs
        self.duration = duration
        self.line = StatusLine(log_interval_s=5.0)
        self.started_s = time.monotonic()
        self.ended_s: float | None = None
        self.ready_s: dict[str, float] = {}
        self.all_ready_s: float | None = None
        self.sim_rate_hz: float | None = None
        self._warned_slow = False
        self._names_checked_s = 0.0

    def run(self, nodes: ProcessGroup, recorder: ProcessGroup) -> ManagedProcess | None:
        """Block until ``duration`` passes or a process exits (returned); Ctrl-C raises."""
        shown_s = 0.0
        while self.duration is None or time.monotonic() - self.started_s < self.duration:
            exited = nodes.first_exited() or recorder.first_exited()
            if exited is not None:
                self.line.print(f"vlash_launch: {exited.name} exited with "
                                f"{exited.popen.returncode}; stopping all nodes")  # fmt: skip
                return exited
            self.monitor.spin_for(_POLL_S)
            self._check_ready()
            self._check_sim_rate()
            if time.monotonic() - shown_s >= self.line.interval_s:
                shown_s = time.monotonic()
                self.line.show(self.monitor.status, self._phase())
        self.line.print(f"vlash_launch: {self.duration} s elapsed, stopping all nodes")
        return None

    def stop(self) -> None:
        """The loop ends here: rates and counts of the summary stop at this time."""
        self.ended_s = time.monotonic()

    def _phase(self) -> str:
        waiting = [s.name for s in self.specs if s.name not in self.ready_s]
        if waiting:
            loading = {s.name for s in self.specs if s.executable == "policy_node"}
            names = [f"{n} (loading the model)" if n in loading else n for n in waiting]
            return f"starting, waiting for {', '.join(names)}"
        run_s = time.monotonic() - self.started_s
        total = f"/{self.duration:.0f}" if self.duration is not None else ""
        return f"running {run_s:4.0f}{total} s"

    def _check_ready(self) -> None:
        now = time.monotonic()
        seen = self.monitor.status.first_seen_s
        discover = now - self._names_checked_s >= 1.0
        names = self.monitor.node_names() if discover else set()
        if discover:
            self._names_checked_s = now
        for spec in self.specs:
            if spec.name in self.ready_s:
                continue
            topic = READY_TOPICS.get(spec.executable)
            if (topic in seen) if topic is not None else (spec.name in names):
                self.ready_s[spec.name] = now
                means = _READY_MEANS.get(spec.executable, "on the graph")
                self.line.print(f"vlash_launch: {spec.name} ready after "
                                f"{now - self.started_s:.1f} s ({means})")  # fmt: skip
        if self.all_ready_s is None and len(self.ready_s) == len(self.specs):
            self.all_ready_s = now
            self.line.print(
                f"vlash_launch: all {len(self.specs)} nodes ready after "
                f"{now - self.started_s:.1f} s"
            )

    def _check_sim_rate(self) -> None:
        sim = next((s for s in self.specs if s.executable == "sim_arm_node"), None)
        if sim is None or sim.name not in self.ready_s:
            return
        if self.sim_rate_hz is None:
            configured = self.monitor.get_parameter(sim.name, "sim_rate_hz")
            self.sim_rate_hz = float(configured) if configured is not None else None
            if self.sim_rate_hz is None:
                return
        now = time.monotonic()
        if self._warned_slow or self.all_ready_s is None:
            return
        if now - self.all_ready_s < RATE_WINDOW_S:
            return
        achieved = self.monitor.status.joint_states.recent_rate_hz(now)
        if achieved is not None and achieved < SLOW_SIM_FRACTION * self.sim_rate_hz:
            self._warned_slow = True
            self.line.print(
                f"vlash_launch: warning: the simulator runs below real time: {achieved:.1f} Hz "
                f"of its configured {self.sim_rate_hz:.1f} Hz "
                f"({100 * achieved / self.sim_rate_hz:.0f} %); the machine is too busy, so "
                "the arm lags the executor's steps"
            )

    def summary(self, bag: str | None) -> str:
        """What the run did, from the monitor's counts, for the lines after the stop."""
        status = self.monitor.status
        end = self.ended_s or time.monotonic()
        # Rates over the loop: from the moment every node was up (the policy sending chunks).
        begin = self.all_ready_s or self.started_s
        ready = (
            ""
            if self.all_ready_s is None
            else f", all nodes ready after {begin - self.started_s:.1f} s"
        )
        rows = [("ran", f"{end - self.started_s:.1f} s{ready}")]
        if status.chunks:
            delays = status.delays
            rows.append(("policy", f"{status.chunks} chunks, Δ median "
                         f"{statistics.median(delays):g} / max {max(delays)} steps"))  # fmt: skip
        if status.step is not None and status.control_period_s:
            rate = status.reports.rate_hz(begin, end)
            rows.append(("executor", f"{len(status.reports.times)} step reports, "
                         f"{format_rate(rate)} Hz in the loop (nominal "
                         f"{1 / status.control_period_s:.1f} Hz)"))  # fmt: skip
        if status.joint_states.first_s is not None:
            rate = status.joint_states.rate_hz(begin, end)
            arm = f"joint states at {format_rate(rate)} Hz in the loop"
            if self.sim_rate_hz and rate is not None:
                share = 100 * rate / self.sim_rate_hz
                arm += f" of {self.sim_rate_hz:.1f} Hz configured ({share:.0f} % of real time)"
            rows.append(("arm", arm))
        if status.shown:
            rows.append(("targets", f"{len(status.shown)} shown, {status.hit} hit, "
                         f"{status.missed} missed"))  # fmt: skip
        if bag is not None:
            rows.append(("bag", bag))
            rows.append(("inspect", f"python -m vlash_policy.recording.bag_info {bag}"))
            rows.append(("convert", f"python -m vlash_policy.data.convert_bag {bag} data/my_task"))
        width = max(len(label) for label, _ in rows)
        return "vlash_launch: summary\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def _start_failure(proc: ManagedProcess) -> str | None:
    """The error a node printed when its constructor failed (node_runner.START_FAILURE)."""
    for line in reversed(proc.log_tail(200).splitlines()):
        if START_FAILURE in line:
            return line.split(START_FAILURE, 1)[1].strip()
    return None


def _report_stops(processes: list[ManagedProcess]) -> list[ManagedProcess]:
    """Print how each process ended; returns those that had to be killed."""
    killed = [p for p in processes if p.popen.returncode == -signal.SIGKILL]
    for proc in processes:
        print(f"vlash_launch: {proc.name} stopped (exit {proc.popen.returncode})")
    for proc in killed:
        print(f"vlash_launch: {proc.name} did not stop within {STOP_GRACE_S} s and was killed",
              file=sys.stderr)  # fmt: skip
    return killed


if __name__ == "__main__":
    sys.exit(main())
