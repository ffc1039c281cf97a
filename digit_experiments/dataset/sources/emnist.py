"""EMNIST "digits" (240,000 train / 40,000 test), from the official IDX files or the Kaggle CSVs.

Both forms store every image transposed relative to MNIST (rows and columns
swapped); the loader transposes them back so the digits stand upright, then
standardises them (EMNIST digits fill more of the frame than MNIST's 20×20 box).

Put the files in ``<data_dir>/emnist/``: either the four IDX files from the
``gzip.zip`` of the official release, or the two CSVs of the Kaggle copy. When
both are present the IDX files are used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digit_experiments.dataset.io.bad_input import BadInputs, check_on_error
from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.checksums import sha256_file, verify_sha256
from digit_experiments.dataset.sources.csv_file import read_pixel_csv
from digit_experiments.dataset.io.idx import read_idx
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.standardise import standardise_batch
from digit_experiments.core.errors import DataError, DataMissing

FOLDER = "emnist"
#: The official IDX files and their sha256 (from the NIST ``gzip.zip``; see shared/data/SOURCES.md).
IDX_FILES: dict[str, str] = {
    "emnist-digits-train-images-idx3-ubyte.gz": "f7c95004d14d81af89522e67d8f0c781dfb3bd544181c81bfe1eb6b41c35b726",
    "emnist-digits-train-labels-idx1-ubyte.gz": "6638a6ff5fe2eefd9cca2471995b46c82986b8e4b2a70d2f5ce8e05d7edb319e",
    "emnist-digits-test-images-idx3-ubyte.gz": "20ebe43509264f7639d37c835a3f0b009e90b29e00a099a03101abe1644a3f63",
    "emnist-digits-test-labels-idx1-ubyte.gz": "bad1834c45d5988e270b99d43b13edc3fd898f658ffbc2caf2846ef27f7b05b0",
}
CSV_FILES = ("emnist-digits-train.csv", "emnist-digits-test.csv")
#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1


@SOURCES.register("emnist_digits")
def load_emnist_digits(data_dir: Path, verify_checksums: bool = True, on_error: str = "raise") -> SourceData:
    """Load EMNIST digits from ``data_dir/emnist``, upright and standardised to MNIST style.

    Args:
        data_dir: Root data directory.
        verify_checksums: Check the IDX files against the official sha256
            (turn off for a re-packed copy; the CSVs have no official digest).
        on_error: ``"raise"`` or ``"skip"`` for a CSV row or an IDX label
            that is malformed or outside 0-9.

    Raises:
        DataError: when neither form is complete in the folder (the message
            says which files to put where), or a file is corrupt.
    """
    check_on_error(on_error)
    folder = data_dir / FOLDER
    if all((folder / name).is_file() for name in IDX_FILES):
        form = "idx"
        checksums = _idx_checksums(folder, verify_checksums)
    elif all((folder / name).is_file() for name in CSV_FILES):
        form = "csv"
        checksums = {f"{FOLDER}/{name}": sha256_file(folder / name) for name in CSV_FILES}
    else:
        raise DataMissing(
            f"EMNIST digits files missing from {folder}. Put there either the four IDX files "
            f"({', '.join(IDX_FILES)}) from the official release's gzip.zip "
            "(https://www.nist.gov/itl/products-and-services/emnist-dataset), or the two Kaggle CSVs "
            f"({', '.join(CSV_FILES)}, Kaggle dataset crawford/emnist). Where a dataset marks the source "
            "`required: false` (dataset=mix, dataset=unseen_usps), it is skipped when absent."
        )
    settings = {"version": VERSION, "form": form, "on_error": on_error}
    return load_standardised("emnist_digits", checksums, settings, lambda: _build(folder, form, on_error))


def _idx_checksums(folder: Path, verify: bool) -> dict[str, str]:
    """The sha256 of the four IDX files, checked against the official digests when ``verify``."""
    fix = (
        f"Put the official file in {folder}, or set `dataset.sources.emnist_digits.verify_checksums=false` "
        "to accept a re-packed copy."
    )
    checksums = {}
    for name, official in IDX_FILES.items():
        path = folder / name
        checksums[f"{FOLDER}/{name}"] = verify_sha256(path, official, fix) if verify else sha256_file(path)
    return checksums


def upright(images: np.ndarray) -> np.ndarray:
    """Undo EMNIST's storage transposition, so the digits look like MNIST's."""
    return np.ascontiguousarray(images.transpose(0, 2, 1))


def _build(folder: Path, form: str, on_error: str) -> SourceData:
    """Read both splits in the given form, turn them upright and standardise them."""
    bad = BadInputs("emnist_digits", on_error)
    read = _read_idx_split if form == "idx" else _read_csv_split
    (train_images, train_labels), (test_images, test_labels) = (read(folder, split, bad) for split in ("train", "test"))
    return SourceData(
        "emnist_digits",
        standardise_batch(upright(train_images), "light_on_dark"),
        train_labels,
        standardise_batch(upright(test_images), "light_on_dark"),
        test_labels,
        notes=bad.notes(),
    )


def _read_idx_split(folder: Path, split: str, bad: BadInputs) -> tuple[np.ndarray, np.ndarray]:
    """Images (as stored) and labels of one split of the IDX form; labels above 9 go to ``bad``."""
    images_path = folder / f"emnist-digits-{split}-images-idx3-ubyte.gz"
    labels_path = folder / f"emnist-digits-{split}-labels-idx1-ubyte.gz"
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise DataError(
            f"{images_path} holds {images.shape} and {labels_path} {labels.shape}; expected (N, 28, 28) images "
            "and N labels. Replace them with the official files."
        )
    for index in np.flatnonzero(labels > 9):
        bad.add(f"{labels_path}, label {index}", f"label {labels[index]} is outside 0-9")
    keep = labels <= 9
    return images[keep], labels[keep].astype(np.int64)


def _read_csv_split(folder: Path, split: str, bad: BadInputs) -> tuple[np.ndarray, np.ndarray]:
    """Images (as stored) and labels of one split of the CSV form."""
    return read_pixel_csv(folder / f"emnist-digits-{split}.csv", bad)
