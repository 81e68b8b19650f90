"""Seeded hostile messages by kind, each with the outcome the receiving node must produce.

Every hostile message is a well-formed one with one thing broken, so its outcome is known: the
kind the node must refuse it with (counted on ``/diagnostics`` as ``refused.<input>.<kind>``),
or accepted (then clamped to the limits, where it asks for too much). Messages are plain dicts of
the ROS message's fields (``ActionChunk``, ``Image``, ``JointState``); the runner builds the
messages from them. Chunks whose steps depend on the executor's clock are made from a
:class:`ClockState` the runner reads off the executor's reports just before sending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ACCEPTED = "accepted"
PASSED = "passed"
"""Accepted, but after all its steps: nothing of it runs (``passed_chunks`` counts it)."""


@dataclass(frozen=True)
class Hostile:
    """One message to send and what the node must do with it."""

    kind: str
    """What was broken (the fuzz kind)."""
    fields: dict[str, Any]
    """The message's fields."""
    outcome: str
    """:data:`ACCEPTED`, :data:`PASSED` or the refusal kind the node must count."""

    @property
    def refused(self) -> bool:
        return self.outcome not in (ACCEPTED, PASSED)


@dataclass(frozen=True)
class ExecutorSetup:
    """What the fuzzer must know of the executor under test."""

    joint_names: tuple[str, ...]
    control_period_s: float
    strategy: str
    lower: np.ndarray
    upper: np.ndarray
    max_lead_steps: int


@dataclass(frozen=True)
class ClockState:
    """The executor's clock as the runner last saw it."""

    step: int
    """The latest step the executor reported."""
    newest_source: int | None
    """Source step of the newest chunk the executor accepted (None before any)."""
    last_accepted: dict[str, Any] | None
    """Fields of that chunk."""


# --- action chunks -----------------------------------------------------------------------------
ChunkMutation = Callable[["ChunkFuzzer", dict[str, Any], ClockState], str]
"""Breaks a valid chunk's fields in place; returns the outcome."""
_CHUNK_KINDS: dict[str, ChunkMutation] = {}
# Kinds that need an accepted chunk before them (duplicate, out of order, passed).
_NEEDS_ACCEPTED = {"duplicate", "out_of_order", "far_past", "passed"}


def _chunk_kind(name: str) -> Callable[[ChunkMutation], ChunkMutation]:
    def register(mutation: ChunkMutation) -> ChunkMutation:
        _CHUNK_KINDS[name] = mutation
        return mutation

    return register


class ChunkFuzzer:
    """Valid and hostile ``ActionChunk`` fields for one executor, from one seed."""

    def __init__(self, setup: ExecutorSetup, seed: int) -> None:
        self.setup = setup
        self.rng = np.random.default_rng(seed)
        self._next_id = 1

    @staticmethod
    def kinds() -> tuple[str, ...]:
        return tuple(_CHUNK_KINDS)

    def plan(self, hostile: int, valid_every: int) -> list[str]:
        """``hostile`` kinds drawn uniformly, with a ``valid`` one before every ``valid_every``."""
        hostile_kinds = [k for k in _CHUNK_KINDS if k != "valid"]
        drawn = self.rng.choice(hostile_kinds, size=hostile).tolist()
        plan: list[str] = []
        for i, kind in enumerate(drawn):
            if i % valid_every == 0:
                plan.append("valid")
            plan.append(kind)
        return plan

    def make(self, kind: str, clock: ClockState) -> Hostile:
        """The chunk of ``kind`` for the executor at ``clock`` (``valid`` where ``kind`` needs an
        accepted chunk and none was yet)."""
        if kind in _NEEDS_ACCEPTED and (clock.newest_source is None or clock.newest_source < 1):
            kind = "valid"
        fields = self.valid_fields(clock)
        outcome = _CHUNK_KINDS[kind](self, fields, clock)
        return Hostile(kind, fields, outcome)

    def valid_fields(self, clock: ClockState) -> dict[str, Any]:
        """A chunk the executor accepts: conditioned on its latest step, planned 2 steps ahead,
        absolute targets reaching 10 % past the position limits."""
        s, rng = self.setup, self.rng
        horizon = int(rng.integers(4, 17))
        span = s.upper - s.lower
        actions = rng.uniform(s.lower - 0.1 * span, s.upper + 0.1 * span, (horizon, len(span)))
        chunk_id = self._next_id
        self._next_id += 1
        return {
            "chunk_id": chunk_id,
            "start_step": clock.step + 2,
            "source_step": clock.step,
            "delay_steps": 2,
            "control_period": s.control_period_s,
            "joint_names": list(s.joint_names),
            "action_space": 0,
            "horizon": horizon,
            "action_dim": len(span),
            "quantization": 1,
            "execution_horizon": 0,
            "actions": actions.astype(np.float32).ravel().tolist(),
            "strategy": s.strategy,
        }


def _set_actions(fields: dict[str, Any], actions: np.ndarray) -> None:
    fields["horizon"], fields["action_dim"] = actions.shape
    fields["actions"] = actions.astype(np.float32).ravel().tolist()


def _one_value(f: ChunkFuzzer, fields: dict[str, Any], value: float) -> None:
    fields["actions"][int(f.rng.integers(len(fields["actions"])))] = value


@_chunk_kind("valid")
def _valid(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    return ACCEPTED


@_chunk_kind("nan")
def _nan(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    _one_value(f, fields, float("nan"))
    return "non_finite"


@_chunk_kind("inf")
def _inf(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    _one_value(f, fields, float(f.rng.choice([np.inf, -np.inf])))
    return "non_finite"


@_chunk_kind("huge")
def _huge(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    _one_value(f, fields, float(f.rng.choice([-1, 1]) * 10.0 ** f.rng.uniform(4, 38)))
    return "huge"


@_chunk_kind("wrong_action_dim")
def _wrong_action_dim(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["action_dim"] = int(f.rng.choice([fields["action_dim"] - 1, fields["action_dim"] + 2]))
    return "shape"


@_chunk_kind("zero_action_dim")
def _zero_action_dim(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["action_dim"], fields["actions"] = 0, []
    return "shape"


@_chunk_kind("wrong_horizon")
def _wrong_horizon(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["horizon"] += int(f.rng.choice([-1, 1, 7]))
    return "shape"


@_chunk_kind("short_array")
def _short_array(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["actions"] = fields["actions"][: int(f.rng.integers(0, len(fields["actions"])))]
    return "shape"


@_chunk_kind("long_array")
def _long_array(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["actions"] = fields["actions"] + [0.0] * int(f.rng.integers(1, 40))
    return "shape"


@_chunk_kind("empty")
def _empty(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["horizon"], fields["actions"] = 0, []
    return "empty"


@_chunk_kind("unknown_joint")
def _unknown_joint(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["joint_names"][int(f.rng.integers(len(fields["joint_names"])))] = "joint_x"
    return "joint_names"


@_chunk_kind("reordered_joints")
def _reordered_joints(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    names = fields["joint_names"]
    i, j = f.rng.choice(len(names), size=2, replace=False)
    names[i], names[j] = names[j], names[i]
    return "joint_names"


@_chunk_kind("no_joint_names")
def _no_joint_names(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["joint_names"] = []
    return "joint_names"


@_chunk_kind("beyond_limits")
def _beyond_limits(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Absolute targets up to 500 rad away: accepted and clamped to the limits."""
    horizon, dim = fields["horizon"], fields["action_dim"]
    _set_actions(
        fields, f.rng.choice([-1, 1], (horizon, dim)) * f.rng.uniform(2, 500, (horizon, dim))
    )
    return ACCEPTED


@_chunk_kind("delta_past_limits")
def _delta_past_limits(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Increments of 0.2-0.5 rad a step one way: they sum far past the limits; clamped."""
    horizon, dim = fields["horizon"], fields["action_dim"]
    signs = f.rng.choice([-1, 1], dim)
    _set_actions(fields, signs * f.rng.uniform(0.2, 0.5, (horizon, dim)))
    fields["action_space"] = 1
    return ACCEPTED


@_chunk_kind("quantization_zero")
def _quantization_zero(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["quantization"] = 0
    return "quantization"


@_chunk_kind("quantization_huge")
def _quantization_huge(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["quantization"] = int(f.rng.integers(fields["horizon"] + 1, 2**32))
    return "quantization"


@_chunk_kind("quantized")
def _quantized(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """A legal q > 1 (up to the whole chunk in one step): accepted."""
    fields["quantization"] = int(f.rng.integers(2, fields["horizon"] + 1))
    return ACCEPTED


@_chunk_kind("unknown_action_space")
def _unknown_action_space(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["action_space"] = int(f.rng.integers(2, 256))
    return "action_space"


@_chunk_kind("wrong_strategy")
def _wrong_strategy(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    others = [n for n in ("sync", "naive_async", "vlash", "rtc", "x") if n != f.setup.strategy]
    fields["strategy"] = str(f.rng.choice(others))
    return "strategy"


@_chunk_kind("wrong_control_period")
def _wrong_control_period(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    factor = f.rng.choice([0.5, 2.0, -1.0, np.nan, np.inf])
    fields["control_period"] = float(factor * f.setup.control_period_s)
    return "control_period"


@_chunk_kind("chunk_id_overflow")
def _chunk_id_overflow(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["chunk_id"] = int(f.rng.integers(2**63, 2**64, dtype=np.uint64))
    return "chunk_id"


@_chunk_kind("start_before_source")
def _start_before_source(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    fields["start_step"] = fields["source_step"] - int(f.rng.integers(1, 100))
    return "start_before_source"


@_chunk_kind("duplicate")
def _duplicate(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    assert clock.last_accepted is not None
    fields.clear()
    fields.update(
        {k: list(v) if isinstance(v, list) else v for k, v in clock.last_accepted.items()}
    )
    return "duplicate"


@_chunk_kind("out_of_order")
def _out_of_order(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Conditioned on a step before the newest accepted chunk's (an old inference, reordered)."""
    assert clock.newest_source is not None
    fields["source_step"] = clock.newest_source - int(
        f.rng.integers(1, min(clock.newest_source, 50) + 1)
    )
    fields["start_step"] = fields["source_step"] + 2
    return "out_of_order"


@_chunk_kind("far_past")
def _far_past(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Steps long gone (down to int64's minimum): older than the newest accepted chunk."""
    start = int(f.rng.choice([-(2**63), clock.step - int(f.rng.integers(1000, 10**9))]))
    fields["start_step"] = fields["source_step"] = start
    return "out_of_order"


@_chunk_kind("passed")
def _passed(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Conditioned with the newest accepted chunk, but arriving after all its steps."""
    assert clock.newest_source is not None
    fields["source_step"] = fields["start_step"] = clock.newest_source
    _set_actions(fields, np.asarray(fields["actions"]).reshape(fields["horizon"], -1)[:1])
    return PASSED


@_chunk_kind("far_future")
def _far_future(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    lead = f.setup.max_lead_steps + int(f.rng.integers(100, 10**6))
    fields["start_step"] = int(f.rng.choice([clock.step + lead, 2**63 - 1]))
    return "far_future"


@_chunk_kind("future_source")
def _future_source(f: ChunkFuzzer, fields: dict[str, Any], clock: ClockState) -> str:
    """Conditioned on a step the executor has not reached (a policy on another clock)."""
    fields["source_step"] = clock.step + int(f.rng.integers(100, 10**9))
    fields["start_step"] = fields["source_step"] + 2
    return "future_source"


# --- camera images -------------------------------------------------------------------------------
def valid_image_fields(height: int = 48, width: int = 64, value: int = 128) -> dict[str, Any]:
    """An ``rgb8`` frame of one grey value."""
    return {
        "encoding": "rgb8",
        "height": height,
        "width": width,
        "step": width * 3,
        "is_bigendian": 0,
        "data": bytes([value]) * (height * width * 3),
    }


def _image_kinds(rng: np.random.Generator) -> dict[str, tuple[dict[str, Any], str]]:
    base = valid_image_fields(value=int(rng.integers(256)))
    size = len(base["data"])
    cut = int(rng.integers(0, size))
    return {
        "valid": (base, ACCEPTED),
        "odd_size": (valid_image_fields(3, int(rng.integers(1, 300))), ACCEPTED),
        "unknown_encoding": (
            base | {"encoding": str(rng.choice(["yuv422", "bayer_rggb8", "", "32FC1"]))},
            "encoding",
        ),
        "short_step": (base | {"step": base["width"] * 3 - int(rng.integers(1, 10))}, "step"),
        "truncated": (base | {"data": base["data"][:cut]}, "data_length"),
        "oversized_data": (
            base | {"data": base["data"] + bytes(int(rng.integers(1, 99)))},
            "data_length",
        ),
        "zero_size": (base | {str(rng.choice(["height", "width"])): 0, "data": b""}, "size"),
    }


IMAGE_KINDS = tuple(_image_kinds(np.random.default_rng(0)))


def image(kind: str, rng: np.random.Generator) -> Hostile:
    fields, outcome = _image_kinds(rng)[kind]
    return Hostile(kind, fields, outcome)


# --- joint states --------------------------------------------------------------------------------
def _joint_state_cases(
    names: list[str], values: list[float], i: int
) -> dict[str, tuple[list[str], list[float], str]]:
    return {
        "valid": (names, values, ACCEPTED),
        "extra_joint": ([*names, "camera_tilt"], [*values, 1.0], ACCEPTED),
        "missing_joint": (
            names[:i] + names[i + 1 :],
            values[:i] + values[i + 1 :],
            "missing_joints",
        ),
        "nan_position": (names, [*values[:i], float("nan"), *values[i + 1 :]], "non_finite"),
        "inf_position": (names, [*values[:i], float("-inf"), *values[i + 1 :]], "non_finite"),
        "short_positions": (names, values[:i], "length"),
        "long_positions": (names, [*values, 0.0], "length"),
        "empty": ([], [], "missing_joints"),
        "duplicate_name": ([*names, names[i]], [*values, values[i]], "joint_names"),
    }


JOINT_STATE_KINDS = tuple(_joint_state_cases(["a"], [0.0], 0))


def joint_state(
    kind: str, names: Sequence[str], position: np.ndarray, rng: np.random.Generator
) -> Hostile:
    """A ``JointState`` of ``kind`` around the true ``position`` of the commanded ``names``."""
    values = [float(x) for x in position]
    cases = _joint_state_cases(list(names), values, int(rng.integers(len(values))))
    kind_names, kind_values, outcome = cases[kind]
    return Hostile(kind, {"name": kind_names, "position": kind_values}, outcome)
