"""Random ``rosbags`` messages of any registered type, built from the type's field definitions.

Round-trip tests and the recorder benchmark use it so that every field of every vlash_msgs type
(including fields added later) is exercised without a hand-written sample per type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

_INT_RANGES = {
    "int8": (-(2**7), 2**7),
    "int16": (-(2**15), 2**15),
    "int32": (-(2**31), 2**31),
    "int64": (-(2**63), 2**63),
    "uint8": (0, 2**8),
    "byte": (0, 2**8),
    "char": (0, 2**8),
    "uint16": (0, 2**16),
    "uint32": (0, 2**32),
    "uint64": (0, 2**64),
}
_DTYPES = {
    **{name: np.dtype(name) for name in _INT_RANGES if name not in ("byte", "char")},
    "byte": np.dtype("uint8"),
    "char": np.dtype("uint8"),
    "float32": np.dtype("float32"),
    "float64": np.dtype("float64"),
    "bool": np.dtype("bool"),
}


def _random_text(rng: np.random.Generator) -> str:
    return "".join(chr(c) for c in rng.integers(ord("a"), ord("z") + 1, int(rng.integers(0, 9))))


def _scalar(name: str, rng: np.random.Generator) -> Any:
    if name in ("string", "wstring"):
        return _random_text(rng)
    if name == "bool":
        return bool(rng.integers(0, 2))
    if name in ("float32", "float64"):
        # float32 values round-trip exactly only if they are float32-representable.
        return (
            float(np.float32(rng.standard_normal()))
            if name == "float32"
            else float(rng.standard_normal())
        )
    low, high = _INT_RANGES[name]
    return int(rng.integers(low, high, dtype=np.uint64 if name == "uint64" else np.int64))


def _values(
    node: tuple, count: int, typestore: Typestore, rng: np.random.Generator, max_len: int
) -> Any:
    kind, detail = node
    if kind == Nodetype.BASE and detail[0] in _DTYPES:
        dtype = _DTYPES[detail[0]]
        if dtype.kind == "f":
            return rng.standard_normal(count).astype(dtype)
        if dtype.kind == "b":
            return rng.integers(0, 2, count).astype(bool)
        low, high = _INT_RANGES[detail[0]]
        return rng.integers(low, high, count, dtype=dtype)
    return [_field(node, typestore, rng, max_len) for _ in range(count)]


def _field(node: tuple, typestore: Typestore, rng: np.random.Generator, max_len: int) -> Any:
    kind, detail = node
    if kind == Nodetype.BASE:
        return _scalar(detail[0], rng)
    if kind == Nodetype.NAME:
        return random_message(typestore, detail, rng, max_len=max_len)
    element, bound = detail
    if kind == Nodetype.ARRAY:
        return _values(element, bound, typestore, rng, max_len)
    count = int(rng.integers(0, (bound or max_len) + 1))
    return _values(element, count, typestore, rng, max_len)


def random_message(
    typestore: Typestore, msgtype: str, rng: np.random.Generator, *, max_len: int = 4
) -> Any:
    """A ``typestore.types[msgtype]`` instance with every field random (sequences <= max_len)."""
    if msgtype not in typestore.fielddefs:
        raise ValueError(f"msgtype {msgtype!r} is not registered in the typestore")
    if max_len < 0:
        raise ValueError(f"max_len={max_len} must be >= 0")
    _, fields = typestore.fielddefs[msgtype]
    values = {name: _field(node, typestore, rng, max_len) for name, node in fields}
    return typestore.types[msgtype](**values)
