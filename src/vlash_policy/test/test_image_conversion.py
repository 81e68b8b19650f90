"""Tests for vlash_policy.image_conversion (sensor_msgs/Image fields <-> RGB arrays)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vlash_policy.image_conversion import (
    SUPPORTED_ENCODINGS,
    compressed_to_rgb,
    image_to_rgb,
    resize_rgb,
    rgb_to_image_fields,
    try_cv_bridge,
)

# encoding -> (channels, bytes per channel)
LAYOUTS = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "8UC3": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "8UC1": (1, 1),
    "mono16": (1, 2),
    "16UC1": (1, 2),
}


def _expected_rgb(encoding: str, pixels: np.ndarray) -> np.ndarray:
    """RGB by the definition of each encoding's channel order, written out per encoding."""
    if encoding == "rgb8":
        return pixels
    if encoding in ("bgr8", "8UC3"):
        return np.stack([pixels[..., 2], pixels[..., 1], pixels[..., 0]], axis=2)
    if encoding == "rgba8":
        return pixels[..., :3]
    if encoding == "bgra8":
        return np.stack([pixels[..., 2], pixels[..., 1], pixels[..., 0]], axis=2)
    gray = pixels[..., 0]
    if encoding in ("mono16", "16UC1"):
        gray = (gray // 256).astype(np.uint8)
    return np.stack([gray, gray, gray], axis=2)


def _message(encoding, pixels, *, pad=0, bigendian=False, pad_byte=0xAB):
    """Serialize (H, W, C) pixels into Image fields, with ``pad`` junk bytes after every row."""
    height, width, _ = pixels.shape
    dtype = pixels.dtype.newbyteorder(">" if bigendian else "<")
    rows = pixels.astype(dtype).reshape(height, -1).view(np.uint8).reshape(height, -1)
    padding = np.full((height, pad), pad_byte, dtype=np.uint8)
    data = np.concatenate([rows, padding], axis=1).tobytes()
    return SimpleNamespace(
        encoding=encoding,
        height=height,
        width=width,
        step=rows.shape[1] + pad,
        is_bigendian=int(bigendian),
        data=data,
    )


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    encoding=st.sampled_from(sorted(LAYOUTS)),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    pad=st.integers(0, 5),
    bigendian=st.booleans(),
)
def test_every_encoding_decodes_with_padding_and_byte_order(
    data, encoding, height, width, pad, bigendian
):
    channels, size = LAYOUTS[encoding]
    dtype = np.uint8 if size == 1 else np.uint16
    pixels = data.draw(arrays(dtype, (height, width, channels)))
    msg = _message(encoding, pixels, pad=pad, bigendian=bigendian)
    rgb = image_to_rgb(msg)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (height, width, 3)
    assert rgb.flags.c_contiguous and rgb.flags.writeable
    np.testing.assert_array_equal(rgb, _expected_rgb(encoding, pixels))


def test_hand_computed_pixels():
    bgr = _message("bgr8", np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.uint8), pad=2)
    np.testing.assert_array_equal(image_to_rgb(bgr), [[[3, 2, 1], [6, 5, 4]]])
    # 0x1234 big-endian is bytes 12 34; the high byte 0x12 = 18 survives.
    mono16 = SimpleNamespace(
        encoding="mono16", height=1, width=2, step=4, is_bigendian=1, data=b"\x12\x34\xff\x01"
    )
    np.testing.assert_array_equal(image_to_rgb(mono16), [[[18, 18, 18], [255, 255, 255]]])
    mono16.is_bigendian = 0  # little-endian: 0x3412 and 0x01ff
    np.testing.assert_array_equal(image_to_rgb(mono16), [[[52, 52, 52], [1, 1, 1]]])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), height=st.integers(1, 6), width=st.integers(1, 6))
def test_rgb_fields_round_trip(data, height, width):
    rgb = data.draw(arrays(np.uint8, (height, width, 3)))
    fields = rgb_to_image_fields(rgb)
    assert fields["encoding"] == "rgb8"
    assert (fields["height"], fields["width"], fields["step"]) == (height, width, width * 3)
    assert fields["is_bigendian"] == 0
    assert isinstance(fields["data"], bytes)
    np.testing.assert_array_equal(image_to_rgb(SimpleNamespace(**fields)), rgb)


def test_result_does_not_alias_the_message_buffer():
    buffer = bytearray(range(12))
    msg = SimpleNamespace(encoding="rgb8", height=2, width=2, step=6, is_bigendian=0, data=buffer)
    rgb = image_to_rgb(msg)
    buffer[0] = 200
    assert rgb[0, 0, 0] == 0
    rgb[0, 0, 1] = 99
    assert buffer[1] == 1


def test_real_ros_message_class_round_trips():
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    msg = image_type(**rgb_to_image_fields(rgb))
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)  # data is an array.array('B') here


def test_data_as_list_of_ints():
    msg = SimpleNamespace(encoding="mono8", height=1, width=2, step=2, is_bigendian=0, data=[7, 9])
    np.testing.assert_array_equal(image_to_rgb(msg), [[[7, 7, 7], [9, 9, 9]]])


def test_unsupported_encoding_lists_supported_ones():
    msg = SimpleNamespace(encoding="yuv422", height=1, width=1, step=2, is_bigendian=0, data=b"ab")
    with pytest.raises(ValueError, match="'yuv422' is not supported") as info:
        image_to_rgb(msg)
    for name in SUPPORTED_ENCODINGS:
        assert name in str(info.value)
    assert set(SUPPORTED_ENCODINGS) == set(LAYOUTS)


@pytest.mark.parametrize(
    ("fields", "exc", "match", "kind"),
    [
        ({"data": b"\x00" * 11}, ValueError, r"data has 11 bytes, expected height \* step",
         "data_length"),
        ({"data": b"\x00" * 13}, ValueError, r"data has 13 bytes, expected height \* step = 2",
         "data_length"),
        ({"step": 5, "data": b"\x00" * 10}, ValueError, "step 5 is smaller than width", "step"),
        ({"height": 0, "data": b""}, ValueError, "height must be >= 1, got 0", "size"),
        ({"width": 0}, ValueError, "width must be >= 1, got 0", "size"),
        ({"encoding": "yuv9"}, ValueError, "'yuv9' is not supported", "encoding"),
        ({"step": 6.0}, TypeError, "step must be an integer", None),
    ],
)  # fmt: skip
def test_wrong_sizes_name_the_field(fields, exc, match, kind):
    base = {"encoding": "rgb8", "height": 2, "width": 2, "step": 6, "is_bigendian": 0}
    base["data"] = b"\x00" * 12
    base.update(fields)
    with pytest.raises(exc, match=match) as info:
        image_to_rgb(SimpleNamespace(**base))
    # The policy node counts a refused frame by this kind on /diagnostics.
    assert getattr(info.value, "kind", None) == kind


def test_mono16_step_counts_bytes_not_pixels():
    msg = SimpleNamespace(
        encoding="16UC1", height=2, width=3, step=3, is_bigendian=0, data=b"0" * 6
    )
    with pytest.raises(ValueError, match=r"step 3 is smaller than width \* bytes per pixel"):
        image_to_rgb(msg)


def test_missing_field_is_a_type_error():
    with pytest.raises(TypeError, match="image has no field 'step'"):
        image_to_rgb(SimpleNamespace(encoding="rgb8", height=1, width=1))


@pytest.mark.parametrize(
    ("rgb", "exc", "match"),
    [
        (np.zeros((2, 2), np.uint8), ValueError, r"shape \(H, W, 3\)"),
        (np.zeros((2, 2, 4), np.uint8), ValueError, r"got \(2, 2, 4\)"),
        (np.zeros((0, 2, 3), np.uint8), ValueError, "H, W >= 1"),
        (np.zeros((2, 2, 3), np.float32), TypeError, "dtype uint8, got float32"),
    ],
)
def test_rgb_input_checks(rgb, exc, match):
    with pytest.raises(exc, match=match):
        rgb_to_image_fields(rgb)
    with pytest.raises(exc, match=match):
        resize_rgb(rgb, 4)


# ---------------------------------------------------------------------------------------------
# CompressedImage


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


@settings(max_examples=25, deadline=None)
@given(data=st.data(), height=st.integers(1, 8), width=st.integers(1, 8))
def test_png_round_trip_is_exact(data, height, width):
    rgb = data.draw(arrays(np.uint8, (height, width, 3)))
    png = _encode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV encodes BGR
    for fmt in ("png", "rgb8; png compressed bgr8", "PNG"):
        np.testing.assert_array_equal(compressed_to_rgb(fmt, png), rgb)


def test_png_gray_alpha_and_16_bit():
    gray = np.array([[0, 128], [255, 3]], dtype=np.uint8)
    np.testing.assert_array_equal(
        compressed_to_rgb("png", _encode(".png", gray)), np.stack([gray] * 3, axis=2)
    )
    bgra = np.array([[[10, 20, 30, 40]]], dtype=np.uint8)
    np.testing.assert_array_equal(compressed_to_rgb("png", _encode(".png", bgra)), [[[30, 20, 10]]])
    deep = np.array([[0x1234, 0xFFFF]], dtype=np.uint16)
    out = compressed_to_rgb("16UC1; png compressed", _encode(".png", deep))
    np.testing.assert_array_equal(out, [[[0x12] * 3, [0xFF] * 3]])


def test_jpeg_decodes_to_rgb_order():
    # Flat colour patches survive jpeg almost unchanged; a swapped channel order would not.
    rgb = np.zeros((16, 32, 3), dtype=np.uint8)
    rgb[:, :16] = (220, 30, 40)
    rgb[:, 16:] = (20, 40, 200)
    jpeg = _encode(".jpg", np.ascontiguousarray(rgb[..., ::-1]))
    for fmt in ("jpeg", "bgr8; jpeg compressed bgr8", "jpg"):
        out = compressed_to_rgb(fmt, jpeg)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        assert np.abs(out[4:12, 2:12].astype(int) - rgb[4:12, 2:12]).max() <= 8
        assert np.abs(out[4:12, 20:30].astype(int) - rgb[4:12, 20:30]).max() <= 8


def test_compressed_from_ros_message_data():
    compressed_type = pytest.importorskip("sensor_msgs.msg").CompressedImage
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = compressed_type(format="png", data=_encode(".png", np.ascontiguousarray(rgb[..., ::-1])))
    np.testing.assert_array_equal(compressed_to_rgb(msg.format, msg.data), rgb)


@pytest.mark.parametrize(
    ("fmt", "data", "match"),
    [
        ("tiff", b"II*\x00", "format 'tiff' is not supported; supported: jpeg, png"),
        ("16UC1; compressedDepth png", b"\x00" * 20, "compressedDepth png' is not supported"),
        ("png", b"", "data is empty"),
        ("jpeg", b"not an image at all", r"\(19 bytes\) is not a valid 'jpeg'"),
    ],
)
def test_compressed_errors(fmt, data, match):
    with pytest.raises(ValueError, match=match):
        compressed_to_rgb(fmt, data)


# ---------------------------------------------------------------------------------------------
# resize_rgb


def test_resize_area_averages_blocks():
    # 4x4 -> 2x2 with INTER_AREA: every output pixel is the mean of its 2x2 block.
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2, :2] = 10
    rgb[:2, 2:] = [[[0, 0, 0], [40, 80, 120]], [[40, 80, 120], [0, 0, 0]]]
    rgb[2:, :2] = 200
    out = resize_rgb(rgb, 2)
    np.testing.assert_array_equal(out[0, 0], [10, 10, 10])
    np.testing.assert_array_equal(out[0, 1], [20, 40, 60])
    np.testing.assert_array_equal(out[1, 0], [200, 200, 200])
    np.testing.assert_array_equal(out[1, 1], [0, 0, 0])


@settings(max_examples=25, deadline=None)
@given(data=st.data(), height=st.integers(1, 20), width=st.integers(1, 20), size=st.integers(1, 9))
def test_resize_shape_and_constant_images(data, height, width, size):
    value = data.draw(arrays(np.uint8, 3))
    rgb = np.broadcast_to(value, (height, width, 3)).copy()
    out = resize_rgb(rgb, size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.broadcast_to(value, (size, size, 3)))


def test_resize_same_size_is_an_independent_copy():
    rgb = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    out = resize_rgb(rgb, 3)
    np.testing.assert_array_equal(out, rgb)
    out[0, 0, 0] = 99
    assert rgb[0, 0, 0] == 0


@pytest.mark.parametrize(("size", "exc"), [(0, ValueError), (2.0, TypeError), (True, TypeError)])
def test_resize_size_checks(size, exc):
    with pytest.raises(exc, match="size must be"):
        resize_rgb(np.zeros((2, 2, 3), np.uint8), size)


# ---------------------------------------------------------------------------------------------
# cv_bridge

_HAS_CV_BRIDGE = importlib.util.find_spec("cv_bridge") is not None


@pytest.mark.skipif(_HAS_CV_BRIDGE, reason="a cv_bridge is importable here")
def test_try_cv_bridge_is_none_without_cv_bridge():
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    assert try_cv_bridge(image_type) is None


@pytest.mark.skipif(not _HAS_CV_BRIDGE, reason="no cv_bridge installed")
def test_try_cv_bridge_result_round_trips_or_is_none():
    # The pip "cv-bridge" package imports but cannot decode with numpy 2: None is required then.
    image_type = pytest.importorskip("sensor_msgs.msg").Image
    convert = try_cv_bridge(image_type)
    if convert is None:
        return
    rgb = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    np.testing.assert_array_equal(convert(image_type(**rgb_to_image_fields(rgb))), rgb)
