"""Tests for vlash_policy.observation_sync (stamp matching of cameras and joint states)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlash_policy.observation_sync import Observation, ObservationSynchronizer


def _img(value: float) -> np.ndarray:
    """A tiny image whose pixels name the stamp it was taken at (stamps are multiples of 1/4)."""
    return np.full((2, 2, 3), int(value * 4) % 256, dtype=np.uint8)


def _sync(cameras=("front",), tolerance=0.25, buffer_size=30) -> ObservationSynchronizer:
    return ObservationSynchronizer(
        camera_names=list(cameras), tolerance_s=tolerance, buffer_size=buffer_size
    )


def test_pairs_image_with_nearest_joint_state():
    sync = _sync(tolerance=0.25)
    sync.add_joint_state(0.75, [1.0, 2.0])
    sync.add_joint_state(1.25, [3.0, 4.0])
    sync.add_joint_state(1.5, [5.0, 6.0])
    sync.add_image("front", 1.125, _img(1.125))
    obs = sync.latest()
    assert isinstance(obs, Observation)
    assert obs.stamp_s == 1.125
    np.testing.assert_array_equal(obs.state, [3.0, 4.0])
    assert obs.skew_s == 0.125
    assert list(obs.images) == ["front"]
    np.testing.assert_array_equal(obs.images["front"], _img(1.125))


def test_equidistant_states_prefer_the_newer():
    sync = _sync()
    sync.add_joint_state(0.75, [0.0])
    sync.add_joint_state(1.25, [1.0])
    sync.add_image("front", 1.0, _img(1.0))
    np.testing.assert_array_equal(sync.latest().state, [1.0])


@pytest.mark.parametrize(
    ("state_stamp", "matches"),
    [(1.25, True), (0.75, True), (1.25 + 2**-20, False), (0.75 - 2**-20, False), (1.0, True)],
)
def test_tolerance_is_inclusive(state_stamp, matches):
    sync = _sync(tolerance=0.25)
    sync.add_image("front", 1.0, _img(1.0))
    sync.add_joint_state(state_stamp, [0.5])
    obs = sync.latest()
    assert (obs is not None) == matches
    if matches:
        assert obs.skew_s == abs(state_stamp - 1.0)


def test_zero_tolerance_needs_equal_stamps():
    sync = _sync(tolerance=0.0)
    sync.add_image("front", 2.0, _img(2.0))
    sync.add_joint_state(2.0 + 2**-30, [0.0])
    assert sync.latest() is None
    sync.add_joint_state(2.0, [1.0])
    np.testing.assert_array_equal(sync.latest().state, [1.0])


def test_nothing_without_images_or_states():
    sync = _sync()
    assert sync.latest() is None
    sync.add_joint_state(1.0, [0.0])
    assert sync.latest() is None
    sync = _sync()
    sync.add_image("front", 1.0, _img(1.0))
    assert sync.latest() is None


def test_newest_matching_reference_wins_over_newer_unmatched_one():
    sync = _sync(tolerance=0.25)
    for stamp in (1.0, 2.0, 3.0):
        sync.add_image("front", stamp, _img(stamp))
    sync.add_joint_state(1.75, [7.0])  # matches 2.0 only; 3.0 has no state yet
    obs = sync.latest()
    assert obs.stamp_s == 2.0
    np.testing.assert_array_equal(obs.images["front"], _img(2.0))


def test_multiple_cameras_match_around_the_first_camera():
    sync = _sync(cameras=("front", "wrist", "side"), tolerance=0.25)
    sync.add_joint_state(5.0, [0.0])
    sync.add_image("front", 5.0, _img(5.0))
    sync.add_image("wrist", 4.75, _img(4.75))
    assert sync.latest() is None  # no "side" image yet
    sync.add_image("side", 5.5, _img(5.5))
    assert sync.latest() is None  # 0.5 away
    sync.add_image("side", 5.25, _img(5.25))
    obs = sync.latest()
    assert obs.stamp_s == 5.0
    assert list(obs.images) == ["front", "wrist", "side"]
    np.testing.assert_array_equal(obs.images["wrist"], _img(4.75))
    np.testing.assert_array_equal(obs.images["side"], _img(5.25))
    assert obs.skew_s == 0.25


def test_reference_is_the_first_camera_even_if_others_are_newer():
    sync = _sync(cameras=("wrist", "front"), tolerance=0.25)
    sync.add_joint_state(1.0, [0.0])
    sync.add_image("wrist", 1.0, _img(1.0))
    sync.add_image("front", 1.25, _img(1.25))
    assert sync.latest().stamp_s == 1.0


def test_not_after_limits_the_reference_stamp():
    sync = _sync(tolerance=0.25)
    for stamp in (1.0, 1.5, 2.0):
        sync.add_image("front", stamp, _img(stamp))
        sync.add_joint_state(stamp, [stamp])
    assert sync.latest().stamp_s == 2.0
    assert sync.latest(not_after_s=1.75).stamp_s == 1.5
    assert sync.latest(not_after_s=1.5).stamp_s == 1.5  # inclusive
    assert sync.latest(not_after_s=0.5) is None
    # The matched state may be newer than not_after_s: only the reference is limited.
    sync2 = _sync(tolerance=0.25)
    sync2.add_image("front", 1.0, _img(1.0))
    sync2.add_joint_state(1.25, [9.0])
    np.testing.assert_array_equal(sync2.latest(not_after_s=1.0).state, [9.0])


def test_buffer_evicts_oldest_stamps():
    sync = _sync(tolerance=0.25, buffer_size=3)
    sync.add_joint_state(1.0, [1.0])
    for stamp in (1.0, 2.0, 3.0, 4.0):
        sync.add_image("front", stamp, _img(stamp))
    # Image 1.0 was evicted: the only state (1.0) has no reference left.
    assert sync.latest() is None
    for stamp in (2.0, 3.0, 4.0):
        sync.add_joint_state(stamp + 5.0, [stamp])
    # States 7, 8, 9 evicted the state at 1.0 as well.
    sync.add_image("front", 9.0, _img(9.0))
    assert sync.latest().stamp_s == 9.0
    assert sync.latest(not_after_s=8.5) is None


def test_out_of_order_arrival_is_sorted_and_repeated_stamp_replaces():
    sync = _sync(tolerance=0.0, buffer_size=2)
    sync.add_image("front", 3.0, _img(3.0))
    sync.add_image("front", 1.0, _img(1.0))
    sync.add_image("front", 2.0, _img(2.0))  # evicts 1.0, the oldest stamp, not 3.0
    for stamp in (1.0, 2.0, 3.0):
        sync.add_joint_state(stamp, [stamp])
    assert sync.latest().stamp_s == 3.0
    assert sync.latest(not_after_s=2.5).stamp_s == 2.0
    assert sync.latest(not_after_s=1.5) is None
    sync.add_image("front", 3.0, _img(0.25))
    np.testing.assert_array_equal(sync.latest().images["front"], _img(0.25))


def test_stored_arrays_are_read_only_views():
    sync = _sync()
    state = np.array([1.0, 2.0])
    rgb = _img(1.0)
    sync.add_image("front", 1.0, rgb)
    sync.add_joint_state(1.0, state)
    state[0] = 99.0  # the joint state is copied on entry
    obs = sync.latest()
    np.testing.assert_array_equal(obs.state, [1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        obs.state[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        obs.images["front"][0, 0, 0] = 0
    rgb[0, 0, 0] = 7  # the caller's own array stays writable
    assert obs.images["front"][0, 0, 0] == 7


@settings(max_examples=25, deadline=None)
@given(
    refs=st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True),
    states=st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True),
    tol=st.integers(0, 4),
    limit=st.none() | st.integers(0, 40),
)
def test_matches_brute_force(refs, states, tol, limit):
    # Stamps on a 1/4 grid are exact floats, so the comparison below has no rounding.
    sync = _sync(tolerance=tol / 4)
    for r in refs:
        sync.add_image("front", r / 4, _img(r / 4))
    for s in states:
        sync.add_joint_state(s / 4, [s])
    candidates = [r for r in refs if (limit is None or r <= limit)]
    candidates = [r for r in candidates if min(abs(s - r) for s in states) <= tol]
    obs = sync.latest(not_after_s=None if limit is None else limit / 4)
    if not candidates:
        assert obs is None
        return
    best = max(candidates)
    assert obs.stamp_s == best / 4
    nearest = min(abs(s - best) for s in states)
    assert obs.skew_s == nearest / 4
    assert abs(obs.state[0] - best) == nearest


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"camera_names": [], "tolerance_s": 0.1}, ValueError, "non-empty list"),
        ({"camera_names": "front", "tolerance_s": 0.1}, ValueError, "non-empty list"),
        ({"camera_names": ["a", "a"], "tolerance_s": 0.1}, ValueError, "unique"),
        ({"camera_names": ["a", ""], "tolerance_s": 0.1}, ValueError, "non-empty strings"),
        ({"camera_names": ["a"], "tolerance_s": -0.01}, ValueError, "tolerance_s must be"),
        ({"camera_names": ["a"], "tolerance_s": float("nan")}, ValueError, "tolerance_s"),
        ({"camera_names": ["a"], "tolerance_s": 0.1, "buffer_size": 0}, ValueError, ">= 1"),
        ({"camera_names": ["a"], "tolerance_s": 0.1, "buffer_size": 2.0}, TypeError, "integer"),
    ],
)
def test_constructor_checks(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ObservationSynchronizer(**kwargs)


def test_input_checks():
    sync = _sync(cameras=("front", "wrist"))
    with pytest.raises(ValueError, match="unknown camera 'side'; configured cameras: front, wrist"):
        sync.add_image("side", 1.0, _img(1.0))
    with pytest.raises(ValueError, match="stamp_s must be finite"):
        sync.add_image("front", float("inf"), _img(1.0))
    with pytest.raises(ValueError, match="stamp_s must be finite"):
        sync.add_joint_state(float("nan"), [1.0])
    with pytest.raises(ValueError, match=r"non-empty 1-D sequence, got shape \(2, 1\)"):
        sync.add_joint_state(1.0, [[1.0], [2.0]])
    with pytest.raises(ValueError, match="positions must be finite"):
        sync.add_joint_state(1.0, [1.0, float("nan")])
    with pytest.raises(ValueError, match="not_after_s must be finite"):
        sync.latest(not_after_s=float("nan"))


def test_concurrent_producers_and_consumer_see_consistent_observations():
    """Smoke test: callbacks add while a worker reads; every observation is self-consistent."""
    sync = _sync(cameras=("front", "wrist"), tolerance=0.0, buffer_size=8)
    count = 2000
    errors: list[BaseException] = []
    seen: list[float] = []
    done = threading.Event()

    def produce() -> None:
        try:
            for k in range(count):
                stamp = k / 4
                sync.add_joint_state(stamp, [stamp])
                sync.add_image("wrist", stamp, _img(stamp))
                sync.add_image("front", stamp, _img(stamp))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            done.set()

    def consume() -> None:
        try:
            while not done.is_set() or not seen:
                obs = sync.latest()
                if obs is None:
                    continue
                # Zero tolerance: all parts must come from the same stamp.
                assert obs.skew_s == 0.0
                assert obs.state[0] == obs.stamp_s
                pixel = int(obs.stamp_s * 4) % 256
                assert all(int(image[0, 0, 0]) == pixel for image in obs.images.values())
                if seen:
                    assert obs.stamp_s >= seen[-1]
                seen.append(obs.stamp_s)
        except BaseException as exc:
            errors.append(exc)

    # Switch threads as often as the interpreter allows, so that unlocked updates of a stream's
    # parallel stamp/value lists would be observed half done.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
    assert sync.latest().stamp_s == (count - 1) / 4
