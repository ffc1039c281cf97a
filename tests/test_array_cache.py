"""The array cache: a damaged entry is recomputed and replaced, never served and never fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digit_experiments.core.array_cache import cached_arrays


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a zip", "bit flip"])
def test_a_damaged_entry_is_recomputed_and_replaced(damage: str, tmp_path: Path) -> None:
    """A truncated or emptied entry raised BadZipFile or EOFError in every later run until deleted by hand."""
    arrays = {"images": np.arange(20000, dtype=np.uint8).reshape(100, 200), "labels": np.arange(100)}
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return arrays

    cached_arrays("sources", {"name": "test"}, compute, tmp_path)
    (entry,) = (tmp_path / "sources").glob("*.npz")
    data = entry.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "not a zip": b"hello" * 100,
        "bit flip": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
    }[damage]
    entry.write_bytes(damaged)

    loaded, from_cache = cached_arrays("sources", {"name": "test"}, compute, tmp_path)
    assert not from_cache and len(calls) == 2
    np.testing.assert_array_equal(loaded["images"], arrays["images"])
    again, from_cache = cached_arrays("sources", {"name": "test"}, compute, tmp_path)
    assert from_cache and len(calls) == 2, "the damaged entry was replaced"
    np.testing.assert_array_equal(again["labels"], arrays["labels"])
