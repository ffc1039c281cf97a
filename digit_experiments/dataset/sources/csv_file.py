"""Digits from a Kaggle-style CSV: ``label,pixel0,…,pixel783`` per row, header optional.

Each row is one 28×28 image in row-major order (as in Kaggle's "Digit
Recognizer" ``train.csv``). Rows are checked one by one: a row of the wrong
length, a value that is not a number, a label outside 0-9 or a pixel outside
0-255 is reported with the file and line number, then skipped or fatal
according to ``on_error``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from digit_experiments.dataset.io.bad_input import BadInputs, check_on_error
from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.dataset.holdout import holdout_mask
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.standardise import check_polarity, standardise_batch
from digit_experiments.core.errors import DataError, DataMissing

PIXELS = 28 * 28
#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1
#: Lines parsed together; bounds the float scratch memory (~30 MB).
_BLOCK = 10_000


@SOURCES.register("csv")
def load_csv(
    data_dir: Path,
    path: str,
    test_path: str | None = None,
    polarity: str = "auto",
    on_error: str = "skip",
    test_fraction: float = 0.1,
) -> SourceData:
    """Load a labelled CSV of 28×28 digits, standardised to MNIST style.

    Args:
        data_dir: Root data directory; relative paths are taken from there.
        path: The CSV to train on.
        test_path: An optional CSV of the same form to test on. Without it, a
            fixed, seeded ``test_fraction`` of ``path`` is held out as the test set.
        polarity: ``"auto"`` (detected per image), ``"light_on_dark"`` or ``"dark_on_light"``.
        on_error: ``"skip"`` bad rows with a counted warning, or ``"raise"``.
        test_fraction: Share of each class held out when there is no ``test_path``.

    Returns:
        The source named ``"csv"``.
    """
    check_polarity(polarity)
    check_on_error(on_error)
    train_file = _resolve(data_dir, path, "path")
    test_file = None if test_path is None else _resolve(data_dir, test_path, "test_path")
    checksums = {f"csv/path/{train_file.name}": sha256_file(train_file)}
    if test_file is not None:
        checksums[f"csv/test_path/{test_file.name}"] = sha256_file(test_file)
    settings = {"version": VERSION, "polarity": polarity, "on_error": on_error, "test_fraction": test_fraction}
    return load_standardised(
        "csv", checksums, settings, lambda: _build(train_file, test_file, polarity, on_error, test_fraction)
    )


def _resolve(data_dir: Path, name: str, option: str) -> Path:
    """The CSV named by option ``option`` (relative to ``data_dir``), or a DataError saying it is missing."""
    path = (data_dir / Path(name).expanduser()).resolve()
    if not path.is_file():
        raise DataMissing(
            f"CSV file not found: {path}. Set `dataset.sources.csv.{option}` to a CSV with one digit per row "
            "(label,pixel0,...,pixel783); relative paths start at the data directory."
        )
    return path


def _build(train_file: Path, test_file: Path | None, polarity: str, on_error: str, test_fraction: float) -> SourceData:
    """Read, validate and standardise the CSV(s), holding out a test set when there is no test file."""
    bad = BadInputs("csv", on_error)
    images, labels = read_pixel_csv(train_file, bad)
    if len(labels) == 0:
        raise _no_usable_rows(train_file, bad)
    images = standardise_batch(images, polarity)
    if test_file is None:
        test = holdout_mask(labels, test_fraction, "csv")
        images, labels, test_images, test_labels = images[~test], labels[~test], images[test], labels[test]
    else:
        test_images, test_labels = read_pixel_csv(test_file, bad)
        if len(test_labels) == 0:
            raise _no_usable_rows(test_file, bad)
        test_images = standardise_batch(test_images, polarity)
    return SourceData("csv", images, labels, test_images, test_labels, notes=bad.notes())


def _no_usable_rows(path: Path, bad: BadInputs) -> DataError:
    """The error for a CSV without one usable row: what was skipped, or that it holds no rows at all."""
    skipped = f" Skipped: {bad.examples()}" if bad.problems else " It holds no data rows at all."
    return DataError(f"{path} holds no usable rows; expected label,pixel0,...,pixel783 rows.{skipped}")


def read_pixel_csv(path: Path, bad: BadInputs) -> tuple[np.ndarray, np.ndarray]:
    """Read the valid rows of a ``label,pixel0,…,pixel783`` CSV.

    A first line whose first field is not a number is taken as the header.

    Args:
        path: The CSV file.
        bad: Receives each invalid row as ``"<path>, line <n>"`` and the reason.

    Returns:
        ``(N, 28, 28)`` uint8 images exactly as stored (not standardised, not
        re-oriented) and ``(N,)`` int64 labels.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Cannot read {path} as a text CSV ({error}). Point the source at a CSV file.") from error
    first = 1 if lines and not _is_number(lines[0].split(",", 1)[0]) else 0
    rows, numbers = [], []
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        if line.count(",") != PIXELS:
            bad.add(
                f"{path}, line {number}",
                f"has {line.count(',') + 1} values, expected {PIXELS + 1} (a label and {PIXELS} pixels)",
            )
            continue
        rows.append(line)
        numbers.append(number)
    images, labels = [np.zeros((0, 28, 28), np.uint8)], [np.zeros(0, np.int64)]
    for start in range(0, len(rows), _BLOCK):
        block_images, block_labels = _parse_block(
            rows[start : start + _BLOCK], numbers[start : start + _BLOCK], path, bad
        )
        images.append(block_images)
        labels.append(block_labels)
    return np.concatenate(images), np.concatenate(labels)


def _parse_block(rows: list[str], numbers: list[int], path: Path, bad: BadInputs) -> tuple[np.ndarray, np.ndarray]:
    """Parse rows of the right length; report those with a non-number, a bad label or pixel."""
    try:
        # comments=None: by default loadtxt drops everything after a "#", leaving a row too short to be an image
        values = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.float32, ndmin=2, comments=None)
        numeric = np.ones(len(rows), bool)
    except ValueError:  # rare: find the offending rows one by one
        values, numeric = _parse_rows(rows)
    labels, pixels = values[:, 0], values[:, 1:]
    valid_label = (labels >= 0) & (labels <= 9) & (labels == np.round(labels))
    valid_pixels = (pixels >= 0).all(axis=1) & (pixels <= 255).all(axis=1)
    for row in np.flatnonzero(~(numeric & valid_label & valid_pixels)):
        if not numeric[row]:
            reason = "has a value that is not a number"
        elif not valid_label[row]:
            reason = f"label {labels[row]:g} is outside 0-9"
        elif np.isnan(pixels[row]).any():
            reason = "has a pixel value that is NaN (an empty field, or 'nan')"
        else:
            reason = f"has pixel values outside 0-255 ({pixels[row].min():g} to {pixels[row].max():g})"
        bad.add(f"{path}, line {numbers[row]}", reason)
    keep = numeric & valid_label & valid_pixels
    images = np.rint(pixels[keep]).astype(np.uint8).reshape(-1, 28, 28)
    return images, labels[keep].astype(np.int64)


def _parse_rows(rows: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse rows one at a time; unparsable rows come back as zeros with ``numeric`` False."""
    values = np.zeros((len(rows), PIXELS + 1), np.float32)
    numeric = np.ones(len(rows), bool)
    for index, row in enumerate(rows):
        try:
            values[index] = np.array(row.split(","), dtype=np.float32)
        except ValueError:
            numeric[index] = False
    return values, numeric


def _is_number(text: str) -> bool:
    """Whether ``text`` parses as a number (tells a data row from a header)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
