"""Hostile and ordinary image files that tests write: what a careless or malicious user might pass in."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` 8-bit grey pixels, with a little compressed data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * (width + 1) * 64, 9)  # the first 64 rows; a decoder would allocate them all
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def digit_png() -> bytes:
    image = np.zeros((28, 28), np.uint8)
    cv2.line(image, (14, 4), (14, 24), 255, 3)
    return cv2.imencode(".png", image)[1].tobytes()
