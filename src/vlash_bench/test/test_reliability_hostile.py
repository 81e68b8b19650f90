"""The fuzz generator's promised outcomes are what the executor's own code does, without ROS.

Every hostile chunk goes through ``decode_chunk`` and ``ChunkExecutor.accept`` of a ticking
executor, exactly as the node handles it; images and joint states through the policy node's
decoders. Each must end as :mod:`vlash_bench.reliability.hostile` says, and no command may
leave the limits (:mod:`vlash_bench.reliability.checks`).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from vlash_bench.reliability import hostile
from vlash_bench.reliability.checks import (
    Tick,
    check_commands,
    first_execution,
    first_hold,
    hold_lags,
    report_gaps,
)
from vlash_core.conversions import joint_positions
from vlash_core.input_diagnostics import RefusedInputError
from vlash_core.safety_limits import SafetyLimits
from vlash_core.strategies import get_strategy
from vlash_executor.chunk_executor import ChunkExecutor, decode_chunk
from vlash_policy.image_conversion import image_to_rgb

JOINTS = ("a", "b", "c")
PERIOD = 1 / 30
LIMITS = SafetyLimits.create(3, lower=-1.0, upper=1.0, max_step_per_tick=0.05)


def _outcome(executor: ChunkExecutor, fields: dict) -> str:
    passed = executor.passed_chunks
    try:
        chunk = decode_chunk(
            SimpleNamespace(**fields),
            joint_names=JOINTS,
            strategy=get_strategy("vlash"),
            control_period_s=PERIOD,
        )
        executor.accept(chunk)
    except RefusedInputError as error:
        return error.kind
    return hostile.PASSED if executor.passed_chunks > passed else hostile.ACCEPTED


def test_every_hostile_chunk_ends_as_promised_and_commands_stay_within_limits():
    executor = ChunkExecutor(
        strategy=get_strategy("vlash"),
        joint_count=3,
        lower=LIMITS.lower,
        upper=LIMITS.upper,
        max_step_per_tick=LIMITS.max_step,
        max_lead_steps=60,
    )
    start = np.array([0.2, -0.3, 0.9])
    executor.set_measured_position(start)
    setup = hostile.ExecutorSetup(JOINTS, PERIOD, "vlash", LIMITS.lower, LIMITS.upper, 60)
    fuzzer = hostile.ChunkFuzzer(setup, seed=3)
    newest, last, step = None, None, -1
    seen: dict[str, int] = {}
    commands = []
    rng = np.random.default_rng(0)
    for kind in fuzzer.plan(1500, valid_every=4):
        chunk = fuzzer.make(kind, hostile.ClockState(step, newest, last))
        assert _outcome(executor, chunk.fields) == chunk.outcome, (chunk.kind, chunk.fields)
        seen[chunk.kind] = seen.get(chunk.kind, 0) + 1
        if not chunk.refused:
            newest, last = chunk.fields["source_step"], chunk.fields
        for _ in range(int(rng.integers(0, 3))):  # the clock runs on between messages
            result = executor.tick()
            step = result.step
            commands.append(result.command)
    assert set(seen) == set(fuzzer.kinds()), "some kinds were never drawn"
    check = check_commands(commands, LIMITS, start=start)
    assert check.checked == len(commands) > 1000
    assert check.violations == 0, check
    assert check.largest_step_fraction == pytest.approx(1.0)  # the step limit bound


@pytest.mark.parametrize("kind", hostile.IMAGE_KINDS)
def test_every_hostile_image_ends_as_promised(kind):
    frame = hostile.image(kind, np.random.default_rng(1))
    try:
        image_to_rgb(SimpleNamespace(**frame.fields))
        outcome = hostile.ACCEPTED
    except RefusedInputError as error:
        outcome = error.kind
    assert outcome == frame.outcome


@pytest.mark.parametrize("kind", hostile.JOINT_STATE_KINDS)
def test_every_hostile_joint_state_ends_as_promised(kind):
    state = hostile.joint_state(kind, JOINTS, np.array([0.1, 0.2, 0.3]), np.random.default_rng(2))
    try:
        picked = joint_positions(state.fields["name"], state.fields["position"], JOINTS)
        outcome = hostile.ACCEPTED
        assert picked.tolist() == [0.1, 0.2, 0.3]
    except RefusedInputError as error:
        outcome = error.kind
    assert outcome == state.outcome


def test_command_checks_catch_each_violation():
    ok = [[0.0, 0.0, 0.0], [0.05, -0.05, 0.0], [0.1, -0.1, 0.05]]
    assert check_commands(ok, LIMITS, start=np.zeros(3)).violations == 0
    jump = check_commands([[0.2, 0.0, 0.0]], LIMITS, start=np.zeros(3))
    assert jump.step_violations == 1 and jump.largest_step_fraction == pytest.approx(4.0)
    outside = check_commands([[1.0, 0.0, 0.0], [1.04, 0.0, 0.0]], LIMITS)
    assert outside.position_violations == 1 and outside.step_violations == 0
    nan = check_commands([[np.nan, 0.0, 0.0]], LIMITS, start=np.zeros(3))
    assert nan.non_finite == 1 and nan.violations == 1


def test_tick_measures():
    ticks = [
        Tick(0, True, 0, ()),
        Tick(1, False, 1, (5,)),
        Tick(2, False, 0, (5,)),  # its last action: runs out
        Tick(3, True, 0, ()),
        Tick(5, False, 0, (6,)),  # step 4 missing; then runs out with a new chunk next
        Tick(6, False, 3, (7,)),
    ]
    assert report_gaps(ticks) == 1
    assert hold_lags(ticks) == [1]
    assert first_execution(ticks, from_step=3).step == 5
    assert first_execution(ticks, from_step=0, chunk_ids={7}).step == 6
    assert first_hold(ticks, from_step=1).step == 3
