"""The policy on one host, the executor on another, over DDS; the link between them cut for 2 s.

The deployment users grow into (a GPU workstation and the robot's computer), made on this machine
by the test itself: two network namespaces joined by a veth pair, DDS over UDP only (no shared
memory, which would cross namespaces), discovery on the subnet. The robot side runs the executor
and test/scripts/robot_side.py (arm, camera, and a log of every report, command and chunk it
sees); the policy side runs the policy node (tiny random checkpoint). Mid-run the link goes down
for 2 s. The executor must hold, never run an action at a step other than its own (a chunk
delayed by the cut only loses its late actions), keep every command within its limits, and
resume with the policy's next chunk; recovery is counted in ticks. Needs root (``ip netns``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from reliability_run import (
    JOINTS,
    LOWER,
    MAX_VELOCITY,
    PERIOD_S,
    UPPER,
    write_executor_parameters,
)

from vlash_bench.reliability.checks import Tick, check_commands, first_execution, hold_lags
from vlash_bringup.graph import find_executable
from vlash_core.safety_limits import SafetyLimits

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ("checkpoints",)

SUBNET = "10.201.0"
CUT_S = 2.0
START_TIMEOUT_S = 240.0
WAIT_S = 60.0


@dataclass(frozen=True)
class Hosts:
    policy: str
    robot: str
    policy_link: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _multicast_route(namespace: str, link: str) -> None:
    # Discovery is multicast; a namespace without a default route needs one (re-added after the
    # link comes back up, which drops routes through it).
    subprocess.run(
        ["ip", "-n", namespace, "route", "replace", "224.0.0.0/4", "dev", link],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("making network namespaces needs root and iproute2")
    tag = f"vl{os.getpid() % 100000}"
    policy, robot = f"{tag}pol", f"{tag}rob"
    links = {policy: f"{tag}p", robot: f"{tag}r"}
    _ip("netns", "add", policy)
    try:
        _ip("netns", "add", robot)
        _ip("link", "add", links[policy], "type", "veth", "peer", "name", links[robot])
        for host, address in ((policy, 1), (robot, 2)):
            _ip("link", "set", links[host], "netns", host)
            _ip("-n", host, "addr", "add", f"{SUBNET}.{address}/24", "dev", links[host])
            _ip("-n", host, "link", "set", links[host], "up")
            _ip("-n", host, "link", "set", "lo", "up")
            _multicast_route(host, links[host])
        yield Hosts(policy, robot, links[policy])
    finally:
        for host in (policy, robot):  # deleting a namespace deletes its end of the veth
            subprocess.run(["ip", "netns", "del", host], capture_output=True)


def _env(graph_env: dict[str, str]) -> dict[str, str]:
    env = dict(graph_env)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"
    env["ROS_STATIC_PEERS"] = f"{SUBNET}.1;{SUBNET}.2"
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"  # shared memory would bypass the cut link
    return env


class RobotLog:
    """What robot_side.py wrote: reports, commands and chunks, read as the file grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self, kind: str) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line being written
                continue
            if entry["kind"] == kind:
                out.append(entry)
        return out

    def ticks(self) -> list[Tick]:
        return [
            Tick(r["step"], r["holding"], r["steps_left"], tuple(r["chunk_ids"]))
            for r in self.entries("report")
        ]

    @property
    def step(self) -> int:
        reports = self.entries("report")
        return reports[-1]["step"] if reports else -1


def _wait(condition, timeout_s: float, what: str, processes) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for process in processes:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited while waiting for {what}:\n"
                                   f"{process.log_tail()}")  # fmt: skip
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in processes)
            raise TimeoutError(f"{what} within {timeout_s} s\n{logs}")
        time.sleep(0.2)


def test_a_cut_link_makes_the_executor_hold_and_it_resumes(
    hosts, ros_graph, tiny_checkpoint, tmp_path
):
    env = _env(ros_graph.env)
    log = RobotLog(tmp_path / "robot.jsonl")
    params_file = write_executor_parameters(tmp_path / "executor.yaml")

    def on(host: str, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", host, *cmd]

    group = ros_graph.processes
    robot = group.start(
        "robot_side",
        on(hosts.robot, [sys.executable, str(ROOT / "test/scripts/robot_side.py"), str(log.path)]),
        env,
    )
    executor = group.start(
        "executor",
        on(hosts.robot, [str(find_executable("vlash_executor", "executor_node")), "--ros-args",
                         "-r", "__node:=executor", "--params-file", str(params_file)]),
        env,
    )  # fmt: skip
    policy = group.start(
        "policy",
        on(hosts.policy, [str(find_executable("vlash_policy", "policy_node")), "--ros-args",
                          "-r", "__node:=policy", "-p", "strategy:=vlash",
                          "-p", f"model_path:={tiny_checkpoint}"]),
        env,
    )  # fmt: skip
    processes = [robot, executor, policy]
    executed_chunks = lambda: {c for t in log.ticks() if not t.holding for c in t.chunk_ids}  # noqa: E731
    _wait(
        lambda: len(executed_chunks()) >= 3, START_TIMEOUT_S, "3 policy chunks executed", processes
    )

    cut_step, cut_at = log.step, time.time()
    _ip("-n", hosts.policy, "link", "set", hosts.policy_link, "down")
    time.sleep(CUT_S)
    _ip("-n", hosts.policy, "link", "set", hosts.policy_link, "up")
    _multicast_route(hosts.policy, hosts.policy_link)
    back_step, back_at = log.step, time.time()
    after = lambda: {c["chunk_id"] for c in log.entries("chunk") if c["t"] > back_at}  # noqa: E731
    _wait(
        lambda: first_execution(log.ticks(), from_step=back_step, chunk_ids=after()) is not None,
        WAIT_S,
        "a chunk sent after the link came back executing",
        processes,
    )
    for process in processes:
        assert process.popen.poll() is None, f"{process.name} died:\n{process.log_tail()}"

    # The cut was real: nothing the policy sent crossed while the link was down (a sample in
    # flight at the cut may still land in its first moments).
    crossed = [c for c in log.entries("chunk") if cut_at + 0.2 < c["t"] < back_at]
    assert crossed == [], f"chunks reached the robot through a cut link: {crossed}"
    ticks = log.ticks()
    cut = [t for t in ticks if cut_step < t.step <= back_step]
    assert cut, "the executor reported nothing on its own side during the cut"
    assert any(t.holding for t in cut), "the executor never held while the policy was cut off"
    assert max(hold_lags(ticks), default=1) == 1
    # Every action ran at its own step: start_step + index (vlash), or not at all.
    starts = {c["chunk_id"]: c["start_step"] for c in log.entries("chunk")}
    for report in log.entries("report"):
        for step, chunk_id, index in zip(
            report["steps"], report["chunk_ids"], report["indices"], strict=True
        ):
            assert step == starts[chunk_id] + index, (
                f"chunk {chunk_id} action {index} ran at step {step}, planned for "
                f"{starts[chunk_id] + index}"
            )
    limits = SafetyLimits.from_velocity(
        lower=LOWER,
        upper=UPPER,
        max_velocity=MAX_VELOCITY,
        control_period_s=PERIOD_S,
        joint_count=len(JOINTS),
    )
    commands = [c["position"] for c in log.entries("command")]
    check = check_commands(commands, limits, start=np.zeros(len(JOINTS)))
    assert check.violations == 0 and check.checked > 100, check
    resumed = first_execution(ticks, from_step=back_step, chunk_ids=after())
    recovery = resumed.step - back_step
    print(f"cut {CUT_S} s at step {cut_step}, back at step {back_step} ({back_at - cut_at:.1f} s); "
          f"resumed at step {resumed.step}: {recovery} ticks")  # fmt: skip
