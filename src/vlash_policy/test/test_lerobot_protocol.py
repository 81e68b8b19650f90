"""The worker framing (lerobot_backend.protocol): round trips and clear errors on bad input."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from vlash_policy.lerobot_backend import protocol
from vlash_policy.lerobot_backend.protocol import ProtocolError, read_message, write_message


def _encoded(header: dict, arrays: dict | None = None) -> bytes:
    stream = io.BytesIO()
    write_message(stream, header, arrays)
    return stream.getvalue()


def _frame(envelope: object, payload: bytes = b"") -> bytes:
    raw = json.dumps(envelope).encode()
    return protocol.MAGIC + struct.pack(">I", len(raw)) + raw + payload


def test_round_trip_keeps_header_arrays_and_order():
    rng = np.random.default_rng(0)
    arrays = {
        "observation.images.front": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
        "observation.state": rng.standard_normal(6),
        "noise": rng.standard_normal((1, 16, 32), dtype=np.float32),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.int64),
        "scalar": np.float32(2.5),
    }
    header = {"type": "predict", "task": "pick the red cube ✓", "id": 3, "nested": {"a": [1, 2]}}
    got_header, got = read_message(io.BytesIO(_encoded(header, arrays)))
    assert got_header == header
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(got[name], array)
        assert got[name].flags.writeable


def test_several_messages_in_one_stream_then_clean_eof():
    stream = io.BytesIO(_encoded({"n": 1}, {"x": np.arange(3)}) + _encoded({"n": 2}))
    assert read_message(stream)[0] == {"n": 1}
    assert read_message(stream) == ({"n": 2}, {})
    with pytest.raises(EOFError):
        read_message(stream)


def test_non_contiguous_and_big_endian_arrays_arrive_as_values():
    strided = np.arange(20.0).reshape(4, 5)[:, ::2]
    big_endian = np.arange(4, dtype=">i4")
    _, got = read_message(io.BytesIO(_encoded({}, {"s": strided, "b": big_endian})))
    np.testing.assert_array_equal(got["s"], strided)
    np.testing.assert_array_equal(got["b"], big_endian)
    assert got["b"].dtype == np.dtype("int32")


@pytest.mark.parametrize("cut", [1, 4, 7, 12, -1])
def test_truncated_stream_is_a_protocol_error(cut):
    data = _encoded({"type": "x"}, {"a": np.arange(10.0)})
    with pytest.raises(ProtocolError, match="stream ended inside a message"):
        read_message(io.BytesIO(data[:cut]))


def test_bad_magic_says_out_of_step():
    with pytest.raises(ProtocolError, match="bad magic"):
        read_message(io.BytesIO(b"Reducing the number of VLM layers\n"))


def test_header_length_over_limit_is_refused_before_reading():
    data = protocol.MAGIC + struct.pack(">I", protocol.MAX_HEADER_BYTES + 1)
    with pytest.raises(ProtocolError, match="header length"):
        read_message(io.BytesIO(data))


def test_header_that_is_not_json():
    data = protocol.MAGIC + struct.pack(">I", 5) + b"{oops"
    with pytest.raises(ProtocolError, match="not valid JSON"):
        read_message(io.BytesIO(data))


@pytest.mark.parametrize(
    ("envelope", "match"),
    [
        ([1, 2], "must be a JSON object"),
        ({"header": {}}, "must be a JSON object"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "|O", "shape": [1]}]}, "dtype"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "<U4", "shape": [1]}]}, "dtype"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "nope", "shape": [1]}]}, "dtype"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "<f8", "shape": [-1]}]}, "shape"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "<f8", "shape": "3"}]}, "shape"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "<f8"}]}, "exactly name"),
        ({"header": {}, "arrays": [{"name": "a", "dtype": "<f8", "shape": [1 << 40]}]}, "over"),
    ],
)
def test_malformed_array_entries(envelope, match):
    with pytest.raises(ProtocolError, match=match):
        read_message(io.BytesIO(_frame(envelope, b"\0" * 64)))


def test_duplicate_array_name():
    spec = {"name": "a", "dtype": "|u1", "shape": [1]}
    with pytest.raises(ProtocolError, match="appears twice"):
        read_message(io.BytesIO(_frame({"header": {}, "arrays": [spec, spec]}, b"\1\2")))


def test_object_arrays_and_unserialisable_headers_cannot_be_written():
    with pytest.raises(ProtocolError, match="only numeric dtypes"):
        write_message(io.BytesIO(), {}, {"a": np.array([object()])})
    with pytest.raises(ProtocolError, match="only numeric dtypes"):
        write_message(io.BytesIO(), {}, {"a": np.array(["text"])})
    with pytest.raises(ProtocolError, match="JSON"):
        write_message(io.BytesIO(), {"x": np.zeros(2)})
    with pytest.raises(ProtocolError, match="JSON"):
        write_message(io.BytesIO(), {"x": float("nan")})
