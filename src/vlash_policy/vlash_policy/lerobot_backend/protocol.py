"""Message framing between :class:`~.client.LeRobotPolicy` and its worker process.

A message is a JSON header plus named numpy arrays, written to a byte stream as::

    b"VLR1" | uint32 big-endian length N | N bytes of UTF-8 JSON | raw array bytes, in header order

The JSON is ``{"header": {...}, "arrays": [{"name", "dtype", "shape"}, ...]}``. Arrays travel as
C-contiguous little-endian bytes of numeric dtypes only, so reading a message never runs code
(no pickle, unlike LeRobot's own gRPC policy server). Standard library and numpy only: the
module is imported by both the main environment and ``.venv-lerobot``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

__all__ = ["MAGIC", "ProtocolError", "read_message", "write_message"]

MAGIC = b"VLR1"
_LENGTH = struct.Struct(">I")
# Far above any real header (a few hundred bytes); a larger length means the stream is garbage.
MAX_HEADER_BYTES = 1 << 20
# An (H, W, 3) uint8 frame of 8K video is 100 MB; refuse to allocate beyond this per array.
MAX_ARRAY_BYTES = 1 << 30
# bool, signed/unsigned integers, floats, complex: fixed-size kinds that carry no objects.
_ALLOWED_KINDS = frozenset("biufc")


class ProtocolError(ValueError):
    """The stream does not hold a well-formed message (bad magic, truncated, malformed header)."""


def _wire_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in _ALLOWED_KINDS:
        raise ProtocolError(f"dtype {dtype} cannot be sent; only numeric dtypes can")
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


def write_message(
    stream: BinaryIO, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
) -> None:
    """Write one message and flush.

    Args:
        stream: a binary stream (a pipe, a file, ``io.BytesIO``).
        header: JSON-serialisable mapping (e.g. ``{"type": "predict", "task": "..."}``).
        arrays: name -> numeric array; sent in this order.
    """
    arrays = dict(arrays or {})
    specs = []
    payloads = []
    for name, array in arrays.items():
        array = np.asarray(array)
        wire = _wire_dtype(array.dtype)
        specs.append({"name": str(name), "dtype": wire.str, "shape": list(array.shape)})
        payloads.append(np.ascontiguousarray(array, dtype=wire).tobytes())
    try:
        encoded = json.dumps(
            {"header": dict(header), "arrays": specs}, allow_nan=False, separators=(",", ":")
        ).encode()
    except (TypeError, ValueError) as error:
        raise ProtocolError(f"header is not JSON-serialisable: {error}") from error
    if len(encoded) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header is {len(encoded)} bytes, over {MAX_HEADER_BYTES}")
    stream.write(MAGIC + _LENGTH.pack(len(encoded)) + encoded)
    for payload in payloads:
        stream.write(payload)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise ProtocolError(
                f"stream ended inside a message: {what} needs {size} bytes, got {size - remaining}"
            )
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _array_spec(spec: Any) -> tuple[str, np.dtype, tuple[int, ...], int]:
    if not isinstance(spec, dict) or set(spec) != {"name", "dtype", "shape"}:
        raise ProtocolError(f"array entry must have exactly name, dtype and shape: {spec!r}")
    name, dtype_str, shape = spec["name"], spec["dtype"], spec["shape"]
    if not isinstance(name, str) or not isinstance(dtype_str, str):
        raise ProtocolError(f"array name and dtype must be strings: {spec!r}")
    try:
        dtype = np.dtype(dtype_str)
    except TypeError as error:
        raise ProtocolError(f"array {name!r}: unknown dtype {dtype_str!r}") from error
    if dtype.kind not in _ALLOWED_KINDS or dtype.str != dtype_str:
        raise ProtocolError(f"array {name!r}: dtype {dtype_str!r} is not a numeric wire dtype")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ProtocolError(f"array {name!r}: shape must be a list of ints >= 0, got {shape!r}")
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if nbytes > MAX_ARRAY_BYTES:
        raise ProtocolError(f"array {name!r} would be {nbytes} bytes, over {MAX_ARRAY_BYTES}")
    return name, dtype, tuple(shape), nbytes


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read one message written by :func:`write_message`.

    Returns:
        ``(header, arrays)``; the arrays are writable native-byte-order copies.

    Raises:
        EOFError: the stream ended cleanly before a new message (the peer closed it).
        ProtocolError: anything else that is not a whole, well-formed message.
    """
    first = stream.read(len(MAGIC))
    if not first:
        raise EOFError("stream closed")
    if len(first) < len(MAGIC):
        first += _read_exact(stream, len(MAGIC) - len(first), "magic")
    magic = first
    if magic != MAGIC:
        raise ProtocolError(
            f"bad magic {magic!r} (expected {MAGIC!r}): not a message, or the stream is out of step"
        )
    (length,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size, "header length"))
    if length > MAX_HEADER_BYTES:
        raise ProtocolError(f"header length {length} is over {MAX_HEADER_BYTES}")
    try:
        envelope = json.loads(_read_exact(stream, length, "header").decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProtocolError(f"header is not valid JSON: {error}") from error
    if (
        not isinstance(envelope, dict)
        or set(envelope) != {"header", "arrays"}
        or not isinstance(envelope["header"], dict)
        or not isinstance(envelope["arrays"], list)
    ):
        raise ProtocolError("header must be a JSON object of 'header' (object), 'arrays' (list)")
    arrays: dict[str, np.ndarray] = {}
    for spec in envelope["arrays"]:
        name, dtype, shape, nbytes = _array_spec(spec)
        if name in arrays:
            raise ProtocolError(f"array {name!r} appears twice")
        raw = _read_exact(stream, nbytes, f"array {name!r}")
        native = dtype.newbyteorder("=")
        arrays[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(native)
    return envelope["header"], arrays
