"""Tests for vlash_core.quantization (VLASH Sec. 4.4, Eq. (5))."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_core.action_space import ActionSpace
from vlash_core.quantization import quantize_actions
from vlash_core.rollforward import roll_forward

finite = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)


@st.composite
def chunks(draw):
    h = draw(st.integers(1, 12))
    d = draw(st.integers(1, 3))
    return draw(arrays(np.float64, (h, d), elements=finite))


def test_paper_example_q3_delta():
    # Fig. 5: â_0 = a_0 + a_1 + a_2; the trailing block {a_6} stays alone.
    a = np.arange(7.0).reshape(7, 1)
    qc = quantize_actions(a, 3, ActionSpace.DELTA)
    np.testing.assert_array_equal(qc.actions, [[3.0], [12.0], [6.0]])
    assert qc.source_indices == (range(0, 3), range(3, 6), range(6, 7))
    assert qc.q == 3 and len(qc) == 3
    assert [qc.micro_index_at(j) for j in range(3)] == [2, 5, 6]


def test_absolute_takes_block_last_waypoint():
    a = np.array([[0.0, 1.0], [0.1, 1.1], [0.2, 1.2], [0.3, 1.3], [0.4, 1.4]])
    qc = quantize_actions(a, 2, "absolute")
    np.testing.assert_array_equal(qc.actions, a[[1, 3, 4]])


@settings(max_examples=25, deadline=None)
@given(a=chunks(), q=st.integers(1, 6), s0=finite)
def test_delta_quantized_reaches_same_states(a, q, s0):
    s = np.full(a.shape[1], s0)
    qc = quantize_actions(a, q, ActionSpace.DELTA)
    assert len(qc) == math.ceil(a.shape[0] / q)
    np.testing.assert_allclose(
        roll_forward(s, qc.actions, action_space="delta"),
        roll_forward(s, a, action_space="delta"),
        atol=1e-9,
    )
    # After macro step j the robot is where micro-action micro_index_at(j) leaves it.
    for j in range(len(qc)):
        i = qc.micro_index_at(j)
        np.testing.assert_allclose(
            roll_forward(s, qc.actions[: j + 1], action_space="delta"),
            roll_forward(s, a[: i + 1], action_space="delta"),
            atol=1e-9,
        )


@settings(max_examples=25, deadline=None)
@given(a=chunks(), q=st.integers(1, 6))
def test_absolute_quantized_ends_at_same_target(a, q):
    qc = quantize_actions(a, q, ActionSpace.ABSOLUTE)
    np.testing.assert_array_equal(qc.actions[-1], a[-1])
    for j in range(len(qc)):
        np.testing.assert_array_equal(qc.actions[j], a[qc.micro_index_at(j)])


@settings(max_examples=25, deadline=None)
@given(a=chunks(), q=st.integers(1, 6), space=st.sampled_from(list(ActionSpace)))
def test_source_indices_partition_the_chunk(a, q, space):
    qc = quantize_actions(a, q, space)
    flat = [i for r in qc.source_indices for i in r]
    assert flat == list(range(a.shape[0]))
    assert all(len(r) == q for r in qc.source_indices[:-1])
    assert 1 <= len(qc.source_indices[-1]) <= q


@settings(max_examples=25, deadline=None)
@given(a=chunks(), space=st.sampled_from(list(ActionSpace)))
def test_q1_is_identity_copy(a, space):
    qc = quantize_actions(a, 1, space)
    np.testing.assert_array_equal(qc.actions, a)
    assert qc.actions is not a
    qc.actions[0, 0] += 1.0
    assert qc.actions[0, 0] != a[0, 0]


def test_q_larger_than_chunk_merges_everything():
    a = np.array([[1.0], [2.0], [3.0]])
    assert quantize_actions(a, 10, "delta").actions.tolist() == [[6.0]]
    assert quantize_actions(a, 10, "absolute").actions.tolist() == [[3.0]]


def test_micro_index_at_out_of_range():
    qc = quantize_actions(np.ones((4, 1)), 2, "delta")
    with pytest.raises(IndexError, match=r"j=2 out of range \[0, 2\)"):
        qc.micro_index_at(2)


@pytest.mark.parametrize(
    ("actions", "q", "exc", "match"),
    [
        (np.ones((3, 1)), 0, ValueError, "q must be >= 1, got 0"),
        (np.ones((3, 1)), 1.5, TypeError, "q must be an integer"),
        (np.ones(3), 1, ValueError, r"shape \(H, D\)"),
        (np.ones((0, 2)), 1, ValueError, "H >= 1"),
        (np.array([[np.nan]]), 1, ValueError, "non-finite"),
    ],
)
def test_validation(actions, q, exc, match):
    with pytest.raises(exc, match=match):
        quantize_actions(actions, q, "delta")
