"""Reader for the IDX format used by MNIST and EMNIST (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from digit_experiments.core.errors import DataError

_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or raw) into an array.

    The header is a 4-byte magic number (two zero bytes, the type code, the
    number of dimensions) followed by one big-endian uint32 per dimension.

    Raises:
        DataError: if the header is not an unsigned-byte IDX header or the
            payload size does not match it.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:  # zlib.error: a corrupt deflate stream inside the gzip
        raise DataError(f"Cannot read IDX file {path}: {error}. Replace it with an intact copy.") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number {raw[:4].hex()}).")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(
            f"{path} is truncated: its header declares {ndim} dimensions but the file ends after {len(raw)} bytes. "
            "Replace it with an intact copy."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape)  # exact: numpy's product of large dimensions can overflow
    if len(raw) - offset != expected:
        raise DataError(
            f"{path} is truncated or padded: its header promises {expected} bytes of data for shape {shape}, "
            f"the file holds {len(raw) - offset}. Replace it with an intact copy."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as stream:
        stream.write(header + array.tobytes())
