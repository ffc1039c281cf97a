"""USPS from the Kaggle ``usps.h5`` (16×16 greyscale floats in [0, 1], 7,291 train / 2,007 test).

Layout: ``/train/data`` ``(N, 256)`` float32 row-major 16×16 images with the
ink near 1 on a 0 background, ``/train/target`` ``(N,)`` int labels, and the
same under ``/test``. USPS digits fill their whole 16×16 frame, so they are
scaled up into MNIST's 20×20 box by the standardisation.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from digit_experiments.dataset.io.bad_input import BadInputs, check_on_error
from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.standardise import standardise_batch
from digit_experiments.core.errors import DataError, DataMissing

FILE = "usps/usps.h5"
#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1
_SIDE = 16
_HOW_TO_GET = (
    "Use the Kaggle 'bistaumanga/usps-dataset' usps.h5 (groups train/ and test/, each with datasets data "
    "(N, 256) floats in [0, 1] and target (N,) labels 0-9) and put it at"
)


@SOURCES.register("usps")
def load_usps(data_dir: Path, on_error: str = "raise") -> SourceData:
    """Load USPS from ``data_dir/usps/usps.h5``, standardised to MNIST style.

    Args:
        data_dir: Root data directory.
        on_error: ``"raise"`` or ``"skip"`` for rows with a label outside 0-9
            or non-finite pixels. A missing or malformed dataset always stops.

    Returns:
        7,291 train and 2,007 test images for the Kaggle file.
    """
    check_on_error(on_error)
    path = data_dir / FILE
    if not path.is_file():
        raise DataMissing(f"USPS file missing: {path}. {_HOW_TO_GET} {path}.")
    checksums = {FILE: sha256_file(path)}
    return load_standardised(
        "usps", checksums, {"version": VERSION, "on_error": on_error}, lambda: _build(path, on_error)
    )


def _build(path: Path, on_error: str) -> SourceData:
    """Read both splits of the HDF5 file and standardise them."""
    bad = BadInputs("usps", on_error)
    try:
        with h5py.File(path, "r") as store:
            splits = {split: _read_split(store, path, split, bad) for split in ("train", "test")}
    except OSError as error:
        raise DataError(f"Cannot read {path} as HDF5 ({error}). {_HOW_TO_GET} {path}.") from error
    return SourceData(
        name="usps",
        train_images=splits["train"][0],
        train_labels=splits["train"][1],
        test_images=splits["test"][0],
        test_labels=splits["test"][1],
        notes=bad.notes(),
    )


def _read_split(store: h5py.File, path: Path, split: str, bad: BadInputs) -> tuple[np.ndarray, np.ndarray]:
    """One split's standardised images and labels; bad rows go to ``bad``."""
    data = _dataset(store, path, f"{split}/data")
    target = _dataset(store, path, f"{split}/target")
    if data.ndim != 2 or data.shape[1] != _SIDE * _SIDE or target.shape != (len(data),):
        raise DataError(
            f"{path}: /{split}/data has shape {data.shape} and /{split}/target {target.shape}; expected (N, 256) "
            f"and (N,). {_HOW_TO_GET} {path}."
        )
    finite = np.isfinite(data).all(axis=1)
    if finite.any() and (data[finite].min() < 0 or data[finite].max() > 1):
        raise DataError(
            f"{path}: /{split}/data holds values from {data[finite].min():g} to {data[finite].max():g}, expected "
            f"[0, 1] (copies scaled to [-1, 1] are a different release). {_HOW_TO_GET} {path}."
        )
    valid_label = np.isin(target, np.arange(10))
    for row in np.flatnonzero(~(finite & valid_label)):
        reason = f"label {target[row]} is outside 0-9" if not valid_label[row] else "has non-finite pixel values"
        bad.add(f"{path}, /{split} row {row}", reason)
    keep = finite & valid_label
    images = np.rint(data[keep].reshape(-1, _SIDE, _SIDE) * 255.0)
    return standardise_batch(images, "light_on_dark"), target[keep].astype(np.int64)


def _dataset(store: h5py.File, path: Path, name: str) -> np.ndarray:
    """Read dataset ``name`` as numbers, or raise a DataError naming the file, the dataset and the problem.

    A damaged file can declare a type numpy has no equivalent for (h5py's
    "Insufficient precision in available types", found by fuzzing) or hold
    text; both are reported like a missing dataset.
    """
    try:
        node = store.get(name)
        values = node[()] if isinstance(node, h5py.Dataset) else None
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        raise DataError(f"{path}: dataset /{name} cannot be read ({error}). {_HOW_TO_GET} {path}.") from None
    if values is None:
        raise DataError(f"{path} has no dataset /{name}. {_HOW_TO_GET} {path}.")
    if not np.issubdtype(np.asarray(values).dtype, np.number):
        raise DataError(f"{path}: dataset /{name} holds {np.asarray(values).dtype} values, not numbers. {_HOW_TO_GET} {path}.")
    return values
