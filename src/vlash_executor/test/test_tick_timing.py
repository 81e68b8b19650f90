import pytest

from vlash_executor.tick_timing import TickTiming

PERIOD_NS = 10_000_000


def test_lateness_and_missed_periods_are_measured_from_expected_call_times():
    timing = TickTiming(period_s=0.01)
    # The first call comes after the node's start-up: returned, but not counted.
    assert timing.record(0, 30_000_000) == pytest.approx(0.03)
    assert timing.record(PERIOD_NS, PERIOD_NS + 200_000) == pytest.approx(0.0002)
    timing.record(2 * PERIOD_NS, 2 * PERIOD_NS + 100_000)
    # The timer skipped two periods: the next expected call is three periods later.
    timing.record(5 * PERIOD_NS, 5 * PERIOD_NS + 5_000_000)
    summary = timing.summary()
    assert summary["ticks"] == 3
    assert summary["missed_ticks"] == 2
    assert summary["max_ms"] == pytest.approx(5.0)
    assert summary["p50_ms"] == pytest.approx(0.2)


def test_empty_summary_and_bad_period():
    assert TickTiming(period_s=0.01).summary() == {"ticks": 0, "missed_ticks": 0}
    with pytest.raises(ValueError, match="period_s"):
        TickTiming(period_s=0.0)
