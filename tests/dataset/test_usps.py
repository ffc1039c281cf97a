"""USPS: the real usps.h5, and malformed HDF5 files."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from digit_experiments.dataset.sources.usps import load_usps
from digit_experiments.core.errors import DataError

from helpers.digit_checks import assert_mnist_style

TRAIN_CLASS_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
TEST_CLASS_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
SHA256 = "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36"


def _write_h5(data_dir: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A usps.h5 holding ``{split: (data, target)}``."""
    path = data_dir / "usps" / "usps.h5"
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as store:
        for split, (data, target) in splits.items():
            store[f"{split}/data"] = data
            store[f"{split}/target"] = target
    return path


def _small_split(rng: np.random.Generator, count: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Random 16×16 'digits' (a bright bar) in [0, 1] with labels 0-9."""
    data = np.zeros((count, 16, 16), np.float32)
    data[:, 3:13, 6:9] = rng.uniform(0.5, 1.0, (count, 1, 1))
    return data.reshape(count, 256), np.arange(count, dtype=np.int32) % 10


def test_real_file_counts_and_style(data_dir: Path) -> None:
    usps = load_usps(data_dir)
    assert np.bincount(usps.train_labels).tolist() == TRAIN_CLASS_COUNTS
    assert np.bincount(usps.test_labels).tolist() == TEST_CLASS_COUNTS
    assert usps.checksums == {"usps/usps.h5": SHA256}
    assert_mnist_style(usps.train_images)
    assert_mnist_style(usps.test_images)


def test_missing_dataset_names_the_file_and_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = _write_h5(tmp_path, {"train": _small_split(rng)})
    with pytest.raises(DataError, match="has no dataset /test/data") as raised:
        load_usps(tmp_path)
    assert str(path) in str(raised.value)


def test_label_outside_0_9_is_named_or_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    data, target = _small_split(rng)
    target[3] = 10
    _write_h5(tmp_path, {"train": (data, target), "test": _small_split(rng)})
    with pytest.raises(DataError, match=r"/train row 3: label 10 is outside 0-9"):
        load_usps(tmp_path)
    with caplog.at_level(logging.WARNING):
        usps = load_usps(tmp_path, on_error="skip")
    assert len(usps.train_labels) == 29 and len(usps.test_labels) == 30
    assert usps.notes["dataset.usps.skipped_inputs"] == "1"
    assert "skipped 1 bad input" in caplog.text and "row 3" in caplog.text


def test_values_outside_0_1_are_rejected(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data, target = _small_split(rng)
    _write_h5(tmp_path, {"train": (data * 2 - 1, target), "test": _small_split(rng)})
    with pytest.raises(DataError, match=r"expected \[0, 1\]"):
        load_usps(tmp_path)


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="Cannot read .* as HDF5"):
        load_usps(tmp_path)


def test_a_dataset_that_is_not_numbers_names_the_file_and_dataset(tmp_path: Path) -> None:
    """Text where pixels belong; the fuzzing campaign found the same path for a float type numpy cannot hold."""
    rng = np.random.default_rng(0)
    data, target = _small_split(rng)
    _write_h5(tmp_path, {"train": (data, target), "test": (data, np.array([b"seven"] * len(target)))})
    with pytest.raises(DataError, match=r"dataset /test/target holds \|?S5 values, not numbers"):
        load_usps(tmp_path)
