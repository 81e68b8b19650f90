"""The loop's processes as they run: the executor's control thread is real-time on its own CPU.

Executor, simulated arm and policy run as real processes over DDS; once chunks flow, the
kernel's view of each process's threads (``/proc/<pid>/task``) must match what the executor's
start-up line says it was granted, and no thread of the policy or the simulator may run on the
executor's CPU (:mod:`vlash_core.cpu_placement`).
"""

from __future__ import annotations

import os
import re

import pytest

from vlash_msgs.msg import ActionChunk

pytest_plugins = ("checkpoints",)

START_TIMEOUT_S = 120.0
CPUS = os.sched_getaffinity(0)
CONTROL_CPU = max(CPUS)


def _threads(pid: int) -> list[int]:
    return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]


@pytest.mark.skipif(len(CPUS) < 2, reason="needs two or more CPUs to keep one for control")
def test_the_control_thread_gets_its_cpu_and_the_priority_it_reports(ros_graph, tiny_checkpoint):
    chunks: list[ActionChunk] = []
    ros_graph.node.create_subscription(ActionChunk, "/vlash/action_chunk", chunks.append, 10)
    executor = ros_graph.start_node(
        "vlash_executor",
        "executor_node",
        ["--ros-args", "-r", "__node:=executor", "-p", "start_armed:=true"],
        "executor",
    )
    policy = ros_graph.start_node(
        "vlash_policy",
        "policy_node",
        ["--ros-args", "-r", "__node:=policy", "-p", f"model_path:={tiny_checkpoint}"],
        "policy",
    )
    sim = ros_graph.start_node(
        "vlash_sim", "sim_arm_node", ["--ros-args", "-r", "__node:=sim_arm"], "sim_arm"
    )
    ros_graph.spin_until(lambda: len(chunks) >= 2, START_TIMEOUT_S, "two chunks")

    line = next(line for line in executor.log_tail().splitlines() if "executing" in line)
    assert f"on CPU {CONTROL_CPU}" in line, line
    # The node's spin thread is the process's main thread: the one that runs every tick.
    main = executor.popen.pid
    assert os.sched_getaffinity(main) == {CONTROL_CPU}
    if "SCHED_FIFO priority 50" in line:
        assert os.sched_getscheduler(main) == os.SCHED_FIFO
        assert os.sched_getparam(main).sched_priority == 50
    else:
        nice = re.search(r"nice (-?\d+)", line)
        assert nice and "refused" in line, line
        assert os.sched_getscheduler(main) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, main) == int(nice.group(1))

    for process in (policy, sim):
        placed = {tid: os.sched_getaffinity(tid) for tid in _threads(process.popen.pid)}
        assert len(placed) > 1, process.name  # DDS and (for the policy) the inference worker
        on_control = [tid for tid, cpus in placed.items() if CONTROL_CPU in cpus]
        assert not on_control, f"{process.name}: threads {on_control} may run on the control CPU"
    torch_line = next(line for line in policy.log_tail().splitlines() if "torch threads" in line)
    assert f"{len(CPUS) - 1} torch threads" in torch_line, torch_line
