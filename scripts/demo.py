"""`make demo`: the closed VLASH loop on the simulated SO-101 for about a minute, then its report.

    source scripts/env.sh
    python scripts/demo.py [--duration 60] [--model CKPT_DIR] [--results-dir results]

Starts the `sim` profile (MuJoCo SO-101 whack-a-mole arm, executor, VLASH policy with the
embedded checkpoint) and the MCAP recorder through scripts/vlash_launch.py, headless, in a ROS
domain of its own with localhost-only discovery. A monitor node in this process
(:mod:`vlash_bringup.run_monitor`, shared with the launcher) prints one status line per second:
targets shown/hit/missed, the current inference delay Δ (VLASH Sec. 4.1), the executor's measured
control rate, the arm's joint-state rate and the chunks received. ``--duration`` counts from the
first chunk, so the policy's loading time does not eat into the loop. Then the recorded bag is
reduced to a summary table and plots (vlash_policy.recording.run_report) in
results/demo_<timestamp>/, with the bag and the node logs. Ctrl-C ends the loop early and still
reports what was recorded.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from vlash_bringup.process_group import ManagedProcess, ProcessGroup
from vlash_bringup.ros_domain import lease_domain_id, ros_environment
from vlash_bringup.run_monitor import LoopStatus, Monitor, StatusLine

ROOT = Path(__file__).resolve().parent.parent

# The launcher stops the nodes and then the recorder, each with a 20 s grace period.
LAUNCHER_STOP_S = 60.0
STATUS_PERIOD_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds of closed loop, counted from the first action chunk (default 60)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="policy checkpoint directory (default: the embedded so101_whack_a_mole checkpoint)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "results",
        help="the run goes into <results-dir>/demo_<timestamp>/ (default results/)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=300.0,
        help="give up when no chunk arrived this many seconds after start (default 300)",
    )
    args = parser.parse_args(argv)
    for name in ("duration", "start_timeout"):
        if getattr(args, name) <= 0:
            parser.error(
                f"--{name.replace('_', '-')} must be > 0 seconds, got {getattr(args, name)}"
            )
    return args


def resolve_model(model: Path | None) -> Path:
    """The checkpoint to run: ``model`` if given, else the package's embedded default."""
    if model is not None:
        if not (model / "config.json").is_file():
            raise FileNotFoundError(
                f"--model {model} is not a checkpoint directory (no config.json)"
            )
        return model.resolve()
    from vlash_policy.embedded import default_checkpoint_dir

    return default_checkpoint_dir()


def loop_phase(status: LoopStatus, duration: float) -> str:
    """The loop clock, counted from the first chunk, or what the loop still waits for."""
    if status.first_chunk_s is None:
        return "waiting for the first chunk (policy loading)"
    return f"loop {time.monotonic() - status.first_chunk_s:4.0f}/{duration:.0f} s"


def run_loop(
    args: argparse.Namespace, monitor: Monitor, launcher: ManagedProcess, line: StatusLine
) -> str | None:
    """Follow the loop until ``args.duration`` s after the first chunk; None, or why it ended."""
    started = time.monotonic()
    status = monitor.status
    while True:
        monitor.spin_for(STATUS_PERIOD_S)
        line.show(status, loop_phase(status, args.duration))
        if launcher.popen.poll() is not None:
            return f"the launcher exited early with {launcher.popen.returncode}"
        if status.first_chunk_s is None:
            if time.monotonic() - started > args.start_timeout:
                return f"no action chunk within {args.start_timeout:.0f} s of the start"
        elif time.monotonic() - status.first_chunk_s >= args.duration:
            return None


def stop_launcher(
    monitor: Monitor, launcher: ManagedProcess, line: StatusLine, group: ProcessGroup
) -> int:
    """SIGINT the launcher (it stops the nodes, the recorder last) and wait for it."""
    if launcher.popen.poll() is None:
        os.kill(launcher.popen.pid, signal.SIGINT)
    deadline = time.monotonic() + LAUNCHER_STOP_S
    while launcher.popen.poll() is None and time.monotonic() < deadline:
        monitor.spin_for(STATUS_PERIOD_S)
        line.show(monitor.status, "stopping the nodes, then the recorder")
    line.end()
    group.stop(grace_s=0.0)  # kills the launcher only if it overran its own stop grace
    return launcher.popen.returncode


def _print_tail(path: Path, lines: int = 30) -> None:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    print(f"--- last lines of {path} ---", *text[-lines:], sep="\n", file=sys.stderr)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM end the loop early. Set explicitly: started as a background job of a
    # non-interactive shell, this process inherits SIGINT ignored and would hand that on to the
    # launcher, which then could not be stopped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        model = resolve_model(args.model)
    except FileNotFoundError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    from vlash_policy.recording.run_report import PLOT_FILES, format_summary, write_report

    out = (args.results_dir / f"demo_{time.strftime('%Y%m%d_%H%M%S')}").resolve()
    out.mkdir(parents=True)
    lease = lease_domain_id()
    env = ros_environment(lease.domain_id)
    # The monitor's rcl reads the discovery range from this process's environment.
    os.environ.clear()
    os.environ.update(env)
    print(f"demo: checkpoint {model}")
    print(f"demo: results in {out} (ROS domain {lease.domain_id}, localhost only)")
    print(f"demo: {args.duration:.0f} s of closed loop after the first chunk; Ctrl-C ends early")
    cmd = [sys.executable, str(ROOT / "scripts" / "vlash_launch.py"), "--profile", "sim"]
    cmd += ["--strategy", "vlash", "--model", str(model), "--record", "--results-dir", str(out)]

    monitor = Monitor(domain_id=lease.domain_id)  # subscribed before any publisher exists
    group = ProcessGroup(out)
    launcher = group.start("launch", cmd, env)
    line = StatusLine()
    failure: str | None = None
    try:
        failure = run_loop(args, monitor, launcher, line)
    except KeyboardInterrupt:
        failure = None
        line.show(monitor.status, "interrupted")
    finally:
        # A second Ctrl-C must not skip stopping the nodes and the report.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = stop_launcher(monitor, launcher, line, group)
        monitor.close()
        lease.release()
    launch_log = out / "launch.log"
    if failure is not None:
        print(f"demo: {failure}", file=sys.stderr)
        _print_tail(launch_log)
        print(f"demo: node logs in {out / 'logs'}", file=sys.stderr)
        return 1

    bags = sorted((out / "bags").glob("*/metadata.yaml"))
    if not bags:
        print(f"demo: the recorder left no bag in {out / 'bags'}", file=sys.stderr)
        _print_tail(launch_log)
        return 1
    bag = bags[-1].parent
    try:
        summary, plots = write_report(bag, out)
    except ValueError as error:  # e.g. stopped before the first chunk ran
        print(f"demo: no report of {bag}: {error}", file=sys.stderr)
        return 1
    if code != 0:
        print(f"demo: warning: the launcher exited with {code}; see {launch_log}", file=sys.stderr)
    print(f"\nresults: {out}")
    print(f"  bag:     {bag}")
    print(f"  logs:    {out / 'logs'} (one per node), {launch_log}")
    print(f"  summary: {out / 'summary.txt'}, {out / 'summary.json'}")
    print(f"\nVLASH demo on the simulated SO-101 (checkpoint {model.name}):")
    print(format_summary(summary))
    for kind in PLOT_FILES:
        print(f"plot ({kind}): {plots[kind]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
