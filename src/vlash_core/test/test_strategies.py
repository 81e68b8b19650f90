"""Tests for vlash_core.strategies (VLASH Sec. 3 intervals, Fig. 3 comparison)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_core.strategies import STRATEGY_NAMES, SwitchingStrategy, get_strategy


def test_registry_names_and_flags():
    assert STRATEGY_NAMES == ("sync", "naive_async", "vlash", "rtc")
    for name in STRATEGY_NAMES:
        s = get_strategy(name)
        assert isinstance(s, SwitchingStrategy)
        assert s.name == name
    assert [get_strategy(n).conditions_on_rolled_state for n in STRATEGY_NAMES] == [
        False,
        False,
        True,
        False,
    ]
    assert [get_strategy(n).uses_guidance for n in STRATEGY_NAMES] == [False, False, False, True]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'a2c2'.*sync, naive_async, vlash, rtc"):
        get_strategy("a2c2")


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_never_while_in_flight_and_always_without_chunk(name):
    s = get_strategy(name)
    kw = {"delay_steps": 3, "margin_steps": 0}
    assert not s.should_start_inference(
        steps_left=0, inference_in_flight=True, has_chunk=False, **kw
    )
    assert s.should_start_inference(steps_left=10, inference_in_flight=False, has_chunk=False, **kw)


def test_sync_triggers_only_when_exhausted():
    s = get_strategy("sync")
    kw = {"delay_steps": 3, "margin_steps": 1, "inference_in_flight": False, "has_chunk": True}
    assert [s.should_start_inference(steps_left=n, **kw) for n in range(6)] == [
        True,
        False,
        False,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize("name", ["naive_async", "vlash", "rtc"])
def test_async_triggers_when_remainder_covers_delay(name):
    s = get_strategy(name)
    kw = {"delay_steps": 3, "margin_steps": 1, "inference_in_flight": False, "has_chunk": True}
    assert [s.should_start_inference(steps_left=n, **kw) for n in range(7)] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_vlash_bookkeeping_example():
    # Conditioned at t with Δ=3, arriving at t+5: 2 late actions dropped, action i at t+3+i.
    s, t = get_strategy("vlash"), 100
    start = s.planned_start_step(source_step=t, delay_steps=3)
    assert start == t + 3
    assert s.effective_start_step(chunk_start_step=start, arrival_step=t + 5) == t + 3
    assert s.first_index(chunk_start_step=start, arrival_step=t + 5) == 2
    for i in range(2, 6):
        assert s.execution_step(index=i, chunk_start_step=start, arrival_step=t + 5) == t + 3 + i
    # Arriving early (t+1) drops nothing; the executor waits until t+3 to switch.
    assert s.first_index(chunk_start_step=start, arrival_step=t + 1) == 0


@pytest.mark.parametrize("name", ["sync", "naive_async"])
def test_arrival_aligned_strategies_execute_action_zero_on_arrival(name):
    s, t = get_strategy(name), 40
    start = s.planned_start_step(source_step=t, delay_steps=3)
    assert start == t
    assert s.effective_start_step(chunk_start_step=start, arrival_step=t + 5) == t + 5
    assert s.first_index(chunk_start_step=start, arrival_step=t + 5) == 0
    assert s.execution_step(index=0, chunk_start_step=start, arrival_step=t + 5) == t + 5


def test_rtc_drops_the_inpainted_overlap():
    s, t = get_strategy("rtc"), 7
    start = s.planned_start_step(source_step=t, delay_steps=3)
    assert start == t
    assert s.first_index(chunk_start_step=start, arrival_step=t + 3) == 3
    assert s.execution_step(index=3, chunk_start_step=start, arrival_step=t + 3) == t + 3


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(0, 1000),
    delay=st.integers(0, 10),
    late=st.integers(-5, 10),
    name=st.sampled_from(STRATEGY_NAMES),
)
def test_first_index_is_count_of_missed_steps(t, delay, late, name):
    s = get_strategy(name)
    start = s.planned_start_step(source_step=t, delay_steps=delay)
    arrival = max(t, t + delay + late)
    eff = s.effective_start_step(chunk_start_step=start, arrival_step=arrival)
    first = s.first_index(chunk_start_step=start, arrival_step=arrival)
    assert first == max(0, arrival - eff)
    # The first kept action executes no earlier than arrival, and exactly then if any were dropped.
    step = s.execution_step(index=first, chunk_start_step=start, arrival_step=arrival)
    assert step >= arrival
    assert first == 0 or step == arrival


def _simulate(name: str, *, delay: int, horizon: int, n_steps: int):
    """Tiny step-by-step executor with an inference that takes exactly ``delay`` steps.

    Each action is labelled with the control step it was predicted for (planned start + index).
    Returns per step the executed label, or None while holding.
    """
    s = get_strategy(name)
    chunk = None  # (effective_start, planned_start)
    in_flight = None  # (source_step, arrival_step)
    executed: list[int | None] = []
    for step in range(n_steps):
        if in_flight is not None and step == in_flight[1]:
            planned = s.planned_start_step(source_step=in_flight[0], delay_steps=delay)
            eff = s.effective_start_step(chunk_start_step=planned, arrival_step=step)
            chunk = (eff, planned)
            in_flight = None
        if chunk is not None:
            idx = step - chunk[0]
            steps_left = horizon - max(idx, 0) if idx < horizon else 0
        else:
            steps_left = 0
        if s.should_start_inference(
            steps_left=steps_left,
            delay_steps=delay,
            margin_steps=0,
            inference_in_flight=in_flight is not None,
            has_chunk=chunk is not None,
        ):
            in_flight = (step, step + delay)
        if chunk is not None and 0 <= step - chunk[0] < horizon:
            executed.append(chunk[1] + step - chunk[0])
        else:
            executed.append(None)
    return executed


@pytest.mark.parametrize("delay", [1, 2, 3])
def test_simulated_timeline_per_strategy(delay):
    horizon, n_steps = 6, 40
    warmup = delay  # the very first chunk always takes Δ steps
    for name in ("vlash", "rtc"):
        labels = _simulate(name, delay=delay, horizon=horizon, n_steps=n_steps)
        # Continuous motion after start-up, and every action runs at the step it was planned for.
        assert all(lbl is not None for lbl in labels[warmup:]), name
        assert labels[warmup:] == list(range(warmup, n_steps)), name
    naive = _simulate("naive_async", delay=delay, horizon=horizon, n_steps=n_steps)
    assert all(lbl is not None for lbl in naive[warmup:])
    # Predicted for t, executed at t+Δ: the Sec. 3 misalignment of exactly Δ steps.
    assert [step - lbl for step, lbl in enumerate(naive) if lbl is not None] == [delay] * (
        n_steps - warmup
    )
    sync = _simulate("sync", delay=delay, horizon=horizon, n_steps=n_steps)
    holds = [step for step, lbl in enumerate(sync) if lbl is None]
    # Stop-and-go: each chunk of K actions is followed by Δ steps of stall.
    expected = [step for step in range(n_steps) if (step % (horizon + delay)) < delay]
    assert holds == expected


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda s: s.should_start_inference(
                steps_left=-1,
                delay_steps=1,
                margin_steps=0,
                inference_in_flight=False,
                has_chunk=True,
            ),
            ValueError,
            "steps_left must be >= 0",
        ),
        (lambda s: s.planned_start_step(source_step=0, delay_steps=-2), ValueError, "delay_steps"),
        (
            lambda s: s.effective_start_step(chunk_start_step=1.5, arrival_step=2),
            TypeError,
            "chunk_start_step must be an integer",
        ),
    ],
)
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_validation(call, exc, match, name):
    with pytest.raises(exc, match=match):
        call(get_strategy(name))


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_only_sync_stops_at_the_execution_horizon(name):
    strategy = get_strategy(name)
    cut = strategy.executable_actions(macro_count=8, execution_horizon=3)
    assert cut == (3 if name == "sync" else 8)
    assert strategy.executable_actions(macro_count=8, execution_horizon=0) == 8
    assert strategy.executable_actions(macro_count=2, execution_horizon=3) == 2
    with pytest.raises(ValueError, match="execution_horizon must be >= 0"):
        strategy.executable_actions(macro_count=8, execution_horizon=-1)
