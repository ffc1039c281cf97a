"""The MNIST source on the real canonical files, and its checksum and missing-file errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from digit_experiments.dataset import load_dataset
from digit_experiments.dataset.sources.mnist import MNIST_FILES, load_mnist
from digit_experiments.core.errors import DataError

TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_loads_the_canonical_files(data_dir: Path) -> None:
    mnist = load_mnist(data_dir)
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.dtype == np.int64
    assert np.bincount(mnist.train_labels).tolist() == TRAIN_CLASS_COUNTS
    assert np.bincount(mnist.test_labels).tolist() == TEST_CLASS_COUNTS
    assert mnist.train_images.min() == 0 and mnist.train_images.max() == 255
    assert set(mnist.checksums.values()) == set(MNIST_FILES.values())


def test_split_is_stratified_90_10_and_deterministic(data_dir: Path) -> None:
    first = load_dataset({"mnist": {}}, data_dir, seed=3)
    again = load_dataset({"mnist": {}}, data_dir, seed=3)
    other = load_dataset({"mnist": {}}, data_dir, seed=4)
    assert len(first.train_labels) == 54000 and len(first.val_labels) == 6000
    val_share = np.bincount(first.val_labels) / np.array(TRAIN_CLASS_COUNTS)
    np.testing.assert_allclose(val_share, 0.1, atol=0.002)
    np.testing.assert_array_equal(first.val_images, again.val_images)
    assert not np.array_equal(first.val_labels, other.val_labels)
    assert list(first.tests) == ["mnist"] and len(first.tests["mnist"][1]) == 10000


def _copy_mnist(data_dir: Path, target: Path) -> Path:
    shutil.copytree(data_dir / "mnist", target / "mnist")
    for path in (target / "mnist").iterdir():
        path.chmod(0o644)
    return target / "mnist"


def test_corrupt_file_is_named_with_its_checksum(data_dir: Path, tmp_path: Path) -> None:
    folder = _copy_mnist(data_dir, tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError) as raised:
        load_mnist(tmp_path)
    message = str(raised.value)
    assert str(labels) in message
    assert MNIST_FILES["t10k-labels-idx1-ubyte.gz"] in message
    assert "sha256" in message


def test_missing_files_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        load_mnist(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "DIGITS_DATA_DIR" in message
