"""Tests for vlash_core.action_space."""

from __future__ import annotations

import pytest

from vlash_core.action_space import ActionSpace, parse_action_space


def test_codes_are_stable_message_values():
    assert int(ActionSpace.ABSOLUTE) == 0
    assert int(ActionSpace.DELTA) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("absolute", ActionSpace.ABSOLUTE),
        ("DELTA", ActionSpace.DELTA),
        (" Delta ", ActionSpace.DELTA),
        (0, ActionSpace.ABSOLUTE),
        (1, ActionSpace.DELTA),
        (ActionSpace.DELTA, ActionSpace.DELTA),
    ],
)
def test_parse_accepts_names_codes_and_members(value, expected):
    assert parse_action_space(value) is expected


def test_parse_rejects_unknown_name_listing_valid_ones():
    with pytest.raises(ValueError, match=r"'velocity'.*absolute \(0\).*delta \(1\)"):
        parse_action_space("velocity")


def test_parse_rejects_unknown_code():
    with pytest.raises(ValueError, match="code 7"):
        parse_action_space(7)


@pytest.mark.parametrize("value", [True, 1.0, None])
def test_parse_rejects_other_types(value):
    with pytest.raises(TypeError, match="action_space"):
        parse_action_space(value)
