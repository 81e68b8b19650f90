from types import SimpleNamespace

import pytest

from vlash_core.stamps import ns_to_sec_nanosec, seconds_to_sec_nanosec, stamp_ns, stamp_seconds


@pytest.mark.parametrize(
    ("nanoseconds", "fields"),
    [(0, (0, 0)), (1_500_000_000, (1, 500_000_000)), (-1, (-1, 999_999_999))],
)
def test_ns_to_sec_nanosec_keeps_nanosec_in_range(nanoseconds, fields):
    assert ns_to_sec_nanosec(nanoseconds) == fields
    assert stamp_ns(SimpleNamespace(sec=fields[0], nanosec=fields[1])) == nanoseconds


def test_seconds_round_to_the_nearest_nanosecond():
    assert seconds_to_sec_nanosec(0.1 * 3) == (0, 300_000_000)
    assert seconds_to_sec_nanosec(1_700_000_000.123456789) == ns_to_sec_nanosec(
        round(1_700_000_000.123456789 * 1e9)
    )
    sec, nanosec = seconds_to_sec_nanosec(2.25)
    assert stamp_seconds(SimpleNamespace(sec=sec, nanosec=nanosec)) == 2.25
