"""The IDX reader on damaged files: the fuzzing campaign's findings, kept as regression tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from digit_experiments.core.errors import DataError
from digit_experiments.dataset.io.idx import read_idx, write_idx


def test_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)


@pytest.mark.parametrize(("content", "message"), [
    # found by fuzzing when the targets were written: a header that declares more dimensions than the file holds (was a numpy ValueError)
    (gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 4]), mtime=0), "declares 3 dimensions"),
    # found by fuzzing when the targets were written: a corrupt deflate block inside a valid gzip header (was a bare zlib.error)
    (bytes.fromhex("1f8b08000000000002ff") + b"\x07" + bytes(40), "invalid block type"),
    (gzip.compress(bytes([0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFF]), mtime=0), "header promises 4294967295 bytes"),
])
def test_damaged_files_are_a_data_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "damaged-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(path)
