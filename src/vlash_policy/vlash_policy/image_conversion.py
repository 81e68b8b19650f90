"""Camera frames to the policy's RGB arrays, without cv_bridge and without importing ROS.

The policy feeds ``(H, W, 3) uint8`` RGB frames, resized to the model's square input, to the VLA
(VLASH Sec. 5 runs pi0.5-style policies on camera observations). ``sensor_msgs/Image`` is decoded
from its fields alone (``encoding, height, width, step, is_bigendian, data``), so any object that
carries them works; ``sensor_msgs/CompressedImage`` (jpeg/png) is decoded with OpenCV.

The ROS ``cv_bridge`` may be preferred when a distribution provides a working one
(:func:`try_cv_bridge`); the pip package of that name does not work with numpy 2 and ROS 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vlash_core.input_diagnostics import RefusedInputError


@dataclass(frozen=True)
class _Layout:
    channels: int
    dtype: str
    """numpy dtype of one channel, without byte order."""
    to_rgb: Callable[[np.ndarray], np.ndarray]
    """(H, W, channels) pixels of this encoding -> (H, W, 3) uint8 RGB."""


def _high_byte(pixels: np.ndarray) -> np.ndarray:
    # 16-bit intensity to 8 bits keeps the top byte: 0..65535 maps onto 0..255 without
    # rounding up past 255, and an 8-bit value expanded as v * 257 comes back as v.
    return (pixels >> 8).astype(np.uint8)


def _gray(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=2)


_ENCODINGS: dict[str, _Layout] = {
    "rgb8": _Layout(3, "u1", lambda p: p),
    "bgr8": _Layout(3, "u1", lambda p: p[..., ::-1]),
    "rgba8": _Layout(4, "u1", lambda p: p[..., :3]),
    "bgra8": _Layout(4, "u1", lambda p: p[..., 2::-1]),
    "mono8": _Layout(1, "u1", _gray),
    "mono16": _Layout(1, "u2", lambda p: _gray(_high_byte(p))),
}
# OpenCV type names that drivers publish for the same memory layouts.
_ENCODINGS["8UC1"] = _ENCODINGS["mono8"]
_ENCODINGS["8UC3"] = _ENCODINGS["bgr8"]
_ENCODINGS["16UC1"] = _ENCODINGS["mono16"]

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)


def _field(msg: Any, name: str) -> Any:
    try:
        return getattr(msg, name)
    except AttributeError:
        raise TypeError(
            f"image has no field {name!r}; expected an object with the sensor_msgs/Image fields "
            "encoding, height, width, step, is_bigendian, data"
        ) from None


def _int_field(msg: Any, name: str, minimum: int) -> int:
    value = _field(msg, name)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"image {name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise RefusedInputError("size", f"image {name} must be >= {minimum}, got {value}")
    return int(value)


def _as_bytes(data: Any) -> np.ndarray:
    try:
        # bytes, bytearray and rclpy's array.array('B') share their memory without a copy.
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_rgb(msg: Any) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB copy of a ``sensor_msgs/Image`` (or any object with its fields).

    Rows are ``step`` bytes apart (trailing padding is skipped); 16-bit data honours
    ``is_bigendian`` and keeps its high byte. Raises :class:`RefusedInputError` naming the
    offending field, of kind ``encoding``, ``size``, ``step`` or ``data_length``.
    """
    encoding = _field(msg, "encoding")
    layout = _ENCODINGS.get(encoding)
    if layout is None:
        raise RefusedInputError(
            "encoding",
            f"image encoding {encoding!r} is not supported; supported encodings: "
            f"{', '.join(SUPPORTED_ENCODINGS)}",
        )
    height = _int_field(msg, "height", 1)
    width = _int_field(msg, "width", 1)
    step = _int_field(msg, "step", 0)
    itemsize = np.dtype(layout.dtype).itemsize
    row_bytes = width * layout.channels * itemsize
    if step < row_bytes:
        raise RefusedInputError(
            "step",
            f"image step {step} is smaller than width * bytes per pixel = {width} * "
            f"{layout.channels * itemsize} = {row_bytes} for encoding {encoding!r}",
        )
    data = _as_bytes(_field(msg, "data"))
    if data.size != height * step:
        raise RefusedInputError(
            "data_length",
            f"image data has {data.size} bytes, expected height * step = {height} * {step} = "
            f"{height * step}",
        )
    order = ">" if itemsize > 1 and _field(msg, "is_bigendian") else "<"
    pixels = np.ndarray(
        (height, width, layout.channels),
        dtype=np.dtype(order + layout.dtype),
        buffer=data,
        strides=(step, layout.channels * itemsize, itemsize),
    )
    # A copy: the pixels may alias the message's buffer, which the caller may reuse.
    return np.array(layout.to_rgb(pixels), dtype=np.uint8, order="C", copy=True)


def _check_rgb(name: str, rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3) with H, W >= 1, got {arr.shape}")
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {arr.dtype}")
    return arr


def rgb_to_image_fields(rgb: np.ndarray) -> dict[str, Any]:
    """Fields of an ``rgb8`` ``sensor_msgs/Image`` holding ``rgb`` (``Image(**fields)``)."""
    arr = _check_rgb("rgb", rgb)
    height, width = arr.shape[:2]
    return {
        "encoding": "rgb8",
        "height": int(height),
        "width": int(width),
        "step": int(width) * 3,
        "is_bigendian": 0,
        "data": np.ascontiguousarray(arr).tobytes(),
    }


_COMPRESSED_KINDS = ("jpeg", "jpg", "png")


def compressed_to_rgb(format: str, data: bytes) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of a ``sensor_msgs/CompressedImage`` (jpeg or png).

    ``format`` is the message's field: ``"jpeg"``, ``"png"`` or image_transport's
    ``"rgb8; jpeg compressed bgr8"``. OpenCV decodes to BGR(A) whatever the label says, because
    the publisher encodes BGR; 16-bit png keeps its high byte like ``mono16``.
    """
    if not isinstance(format, str):
        raise TypeError(f"format must be a str, got {type(format).__name__}")
    label = format.lower()
    if "compresseddepth" in label.replace(" ", "") or not any(
        k in label for k in _COMPRESSED_KINDS
    ):
        raise RefusedInputError(
            "format",
            f"compressed image format {format!r} is not supported; supported: jpeg, png "
            "(optionally as image_transport's '<encoding>; <jpeg|png> compressed <encoding>')",
        )
    buffer = _as_bytes(data)
    if buffer.size == 0:
        raise RefusedInputError("data", "compressed image data is empty")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise RefusedInputError(
            "data", f"compressed image data ({buffer.size} bytes) is not a valid {format!r}"
        )
    if decoded.dtype == np.uint16:
        decoded = _high_byte(decoded)
    if decoded.dtype != np.uint8:
        raise RefusedInputError(
            "data", f"compressed image decodes to unsupported dtype {decoded.dtype}"
        )
    if decoded.ndim == 2:
        return np.ascontiguousarray(_gray(decoded[..., None]))
    channels = decoded.shape[2]
    if channels == 1:
        return np.ascontiguousarray(_gray(decoded))
    if channels == 3:
        return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    raise RefusedInputError(
        "data", f"compressed image decodes to {channels} channels; expected 1, 3 or 4"
    )


def resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` resized to the model's ``(size, size, 3)`` input with area averaging.

    Area interpolation averages the source pixels under each output pixel, which avoids the
    aliasing of nearest/linear sampling when camera frames shrink to a small model input.
    """
    arr = _check_rgb("rgb", rgb)
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise TypeError(f"size must be an integer, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if arr.shape[:2] == (size, size):
        return arr.copy()
    return cv2.resize(arr, (int(size), int(size)), interpolation=cv2.INTER_AREA)


def try_cv_bridge(image_type: type) -> Callable[[Any], np.ndarray] | None:
    """``msg -> (H, W, 3) uint8 RGB`` through the ROS ``cv_bridge``, or None if it is unusable.

    ``image_type`` is the ``sensor_msgs.msg.Image`` class (passed in so that this module stays
    free of ROS imports). The bridge is accepted only if it decodes an ``rgb8`` message of that
    class built by :func:`rgb_to_image_fields` back to the same pixels; the pip ``cv-bridge``
    package imports but fails there with numpy 2, and then :func:`image_to_rgb` is the fallback.
    """
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
    except Exception:
        return None

    def convert(msg: Any) -> np.ndarray:
        try:
            rgb = bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8")
        except Exception as error:  # CvBridgeError and whatever OpenCV raises
            raise RefusedInputError("bridge", f"cv_bridge: {error}") from None
        return np.asarray(rgb, dtype=np.uint8)

    probe = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    try:
        decoded = convert(image_type(**rgb_to_image_fields(probe)))
    except Exception:
        return None
    if decoded.shape != probe.shape or not np.array_equal(decoded, probe):
        return None
    return convert
