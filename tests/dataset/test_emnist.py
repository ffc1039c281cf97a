"""EMNIST digits: both official formats, written here from MNIST digits stored transposed, load upright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.sources.emnist import CSV_FILES, IDX_FILES, load_emnist_digits
from digit_experiments.dataset.io.idx import write_idx
from digit_experiments.dataset.standardise import standardise_batch
from digit_experiments.core.errors import DataError

TRAIN, TEST = slice(0, 300), slice(300, 400)


def _write_idx_form(folder: Path, mnist: SourceData, labels: np.ndarray | None = None) -> None:
    """The four official ``.gz`` files, images transposed as EMNIST stores them."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = mnist.test_labels if labels is None else labels
    for split, part in (("train", TRAIN), ("test", TEST)):
        write_idx(folder / f"emnist-digits-{split}-images-idx3-ubyte.gz", mnist.test_images[part].transpose(0, 2, 1))
        write_idx(folder / f"emnist-digits-{split}-labels-idx1-ubyte.gz", labels[part].astype(np.uint8))


def _write_csv_form(folder: Path, mnist: SourceData) -> None:
    """The two Kaggle CSVs: no header, label then 784 pixels of the transposed image per row."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", TRAIN), ("test", TEST)):
        rows = np.column_stack([mnist.test_labels[part], mnist.test_images[part].transpose(0, 2, 1).reshape(-1, 784)])
        np.savetxt(folder / f"emnist-digits-{split}.csv", rows, fmt="%d", delimiter=",")


def _assert_upright(source: SourceData, mnist: SourceData) -> None:
    """The loaded digits are MNIST's own, standardised: upright, not transposed."""
    np.testing.assert_array_equal(source.train_images, standardise_batch(mnist.test_images[TRAIN]))
    np.testing.assert_array_equal(source.test_images, standardise_batch(mnist.test_images[TEST]))
    np.testing.assert_array_equal(source.train_labels, mnist.test_labels[TRAIN])
    np.testing.assert_array_equal(source.test_labels, mnist.test_labels[TEST])
    transposed = standardise_batch(mnist.test_images[TRAIN].transpose(0, 2, 1))
    assert (source.train_images != transposed).any(axis=(1, 2)).mean() > 0.9


def test_idx_form_loads_upright(mnist: SourceData, tmp_path: Path) -> None:
    _write_idx_form(tmp_path / "emnist", mnist)
    source = load_emnist_digits(tmp_path, verify_checksums=False)
    _assert_upright(source, mnist)
    assert sorted(source.checksums) == sorted(f"emnist/{name}" for name in IDX_FILES)


def test_csv_form_loads_upright(mnist: SourceData, tmp_path: Path) -> None:
    _write_csv_form(tmp_path / "emnist", mnist)
    source = load_emnist_digits(tmp_path)
    _assert_upright(source, mnist)
    assert sorted(source.checksums) == sorted(f"emnist/{name}" for name in CSV_FILES)


def test_idx_files_are_checked_against_the_official_checksums(mnist: SourceData, tmp_path: Path) -> None:
    _write_idx_form(tmp_path / "emnist", mnist)
    with pytest.raises(DataError, match="verify_checksums=false") as raised:
        load_emnist_digits(tmp_path)
    assert "sha256" in str(raised.value) and "emnist-digits-train-images-idx3-ubyte.gz" in str(raised.value)


def test_missing_files_name_both_forms_and_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        load_emnist_digits(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "emnist") in message
    assert all(name in message for name in [*IDX_FILES, *CSV_FILES])


def test_label_outside_0_9_is_named_or_skipped(mnist: SourceData, tmp_path: Path) -> None:
    labels = mnist.test_labels.copy()
    labels[5] = 12
    _write_idx_form(tmp_path / "emnist", mnist, labels)
    with pytest.raises(DataError, match=r"emnist-digits-train-labels-idx1-ubyte.gz, label 5: label 12 is outside 0-9"):
        load_emnist_digits(tmp_path, verify_checksums=False)
    source = load_emnist_digits(tmp_path, verify_checksums=False, on_error="skip")
    assert len(source.train_labels) == 299
    assert source.notes["dataset.emnist_digits.skipped_inputs"] == "1"
