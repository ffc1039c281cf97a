"""Kaggle-style CSVs: header optional, bad rows named by line, skipped with a count or fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.sources.csv_file import load_csv
from digit_experiments.dataset.standardise import standardise_batch
from digit_experiments.core.errors import DataError

HEADER = ",".join(["label", *(f"pixel{i}" for i in range(784))])


def _rows(images: np.ndarray, labels: np.ndarray) -> list[str]:
    return [",".join(map(str, [label, *image.reshape(-1)])) for image, label in zip(images, labels)]


def _write(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text("\n".join(([HEADER] if header else []) + rows) + "\n")
    return path


def test_rows_load_as_standardised_digits_with_or_without_header(mnist: SourceData, tmp_path: Path) -> None:
    images, labels = mnist.test_images[:200], mnist.test_labels[:200]
    _write(tmp_path / "train.csv", _rows(images[:150], labels[:150]))
    _write(tmp_path / "test.csv", _rows(images[150:], labels[150:]), header=False)
    source = load_csv(tmp_path, "train.csv", test_path="test.csv")
    np.testing.assert_array_equal(source.train_images, standardise_batch(images[:150]))
    np.testing.assert_array_equal(source.test_images, standardise_batch(images[150:]))
    np.testing.assert_array_equal(source.test_labels, labels[150:])


def test_without_test_file_a_fixed_tenth_is_held_out(mnist: SourceData, tmp_path: Path) -> None:
    _write(tmp_path / "digits.csv", _rows(mnist.test_images[:500], mnist.test_labels[:500]))
    first = load_csv(tmp_path, str(tmp_path / "digits.csv"))
    assert len(first.test_labels) == round(0.1 * 500) and len(first.train_labels) == 450
    dark_on_light = _write(tmp_path / "inverted.csv", _rows(255 - mnist.test_images[:500], mnist.test_labels[:500]))
    inverted = load_csv(tmp_path, dark_on_light.name)
    np.testing.assert_array_equal(inverted.test_images, first.test_images)


def test_bad_rows_are_named_by_line_and_skipped_or_fatal(mnist: SourceData, tmp_path: Path) -> None:
    rows = _rows(mnist.test_images[:20], mnist.test_labels[:20])
    rows[3] = rows[3].rsplit(",", 1)[0]  # line 5: 784 values
    rows[5] = "12" + rows[5][1:]  # line 7: label 12
    rows[7] = rows[7].replace(",0,", ",x,", 1)  # line 9: not a number
    rows[9] = rows[9][:-2] + ",300"  # line 11: a pixel of 300
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError, match=r"bad.csv, line 5: has 784 values, expected 785"):
        load_csv(tmp_path, "bad.csv", on_error="raise")
    source = load_csv(tmp_path, "bad.csv")
    assert len(source.train_labels) + len(source.test_labels) == 16
    assert source.notes["dataset.csv.skipped_inputs"] == "4"
    examples = source.notes["dataset.csv.skipped_examples"]
    for expected in (
        f"{path}, line 7: label 12 is outside 0-9",
        f"{path}, line 9: has a value that is not a number",
        f"{path}, line 11: has pixel values outside 0-255",
    ):
        assert expected in examples


def test_missing_file_says_which_option_to_set(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset.sources.csv.path"):
        load_csv(tmp_path, "nope.csv")


def test_a_hash_inside_a_row_is_a_bad_value_not_a_comment(mnist: SourceData, tmp_path: Path) -> None:
    """Found by the fuzzing campaign: numpy's loadtxt cut the row at "#" and the reshape to 28x28 crashed."""
    rows = _rows(mnist.test_images[:5], mnist.test_labels[:5])
    rows[2] = rows[2].replace(",", ",1#", 1)
    path = _write(tmp_path / "hash.csv", rows)
    source = load_csv(tmp_path, "hash.csv")
    assert len(source.train_labels) + len(source.test_labels) == 4
    assert f"{path}, line 4: has a value that is not a number" in source.notes["dataset.csv.skipped_examples"]


def test_an_empty_csv_a_nan_pixel_and_an_unusable_test_file_are_named(mnist: SourceData, tmp_path: Path) -> None:
    """An empty CSV said "Skipped: " and nothing; a NaN read "outside 0-255 (nan to nan)"; a test CSV of bad
    rows got the advice to raise `test_fraction`, which does not apply when there is a test file."""
    _write(tmp_path / "empty.csv", [])
    with pytest.raises(DataError, match="holds no usable rows; .* It holds no data rows at all"):
        load_csv(tmp_path, "empty.csv")
    rows = _rows(mnist.test_images[:20], mnist.test_labels[:20])
    rows[2] = rows[2][:-2] + ",nan"
    _write(tmp_path / "train.csv", rows)
    source = load_csv(tmp_path, "train.csv")
    assert "line 4: has a pixel value that is NaN" in source.notes["dataset.csv.skipped_examples"]
    _write(tmp_path / "test.csv", ["12" + row[1:] for row in rows[:5]])
    with pytest.raises(DataError, match=r"test.csv holds no usable rows; .* Skipped: .*label 12 is outside 0-9"):
        load_csv(tmp_path, "train.csv", test_path="test.csv")
