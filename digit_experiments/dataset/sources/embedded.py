"""A small real handwritten-digit set that ships inside scikit-learn, so a fresh offline machine can always train.

``sklearn.datasets.load_digits``: 1,797 digits (UCI "Optical Recognition of
Handwritten Digits", 43 writers) as 8×8 images with 17 grey levels (0-16). They
are scaled up into MNIST's 20×20 box, so they look blurrier than MNIST. There
is no test split: a fixed 10 % of each digit is held out.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_digits

from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.dataset.holdout import holdout_mask
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.standardise import standardise_batch

#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1
_LEVELS = 16.0


@SOURCES.register("embedded")
def load_embedded(data_dir: Path, test_fraction: float = 0.1) -> SourceData:
    """Load scikit-learn's 1,797 digits, standardised to MNIST style.

    Args:
        data_dir: Unused: the data ships with scikit-learn (every source takes it).
        test_fraction: Share of each digit held out as the fixed test set.

    Returns:
        The source named ``"embedded"``: 1,618 train and 179 test images at the default fraction.
    """
    data_file = Path(str(importlib.resources.files("sklearn.datasets.data") / "digits.csv.gz"))
    checksums = {f"scikit-learn {sklearn.__version__}/digits.csv.gz": sha256_file(data_file)}
    settings = {"version": VERSION, "test_fraction": test_fraction}
    return load_standardised("embedded", checksums, settings, lambda: _build(test_fraction))


def _build(test_fraction: float) -> SourceData:
    """Scale the 8×8 images to 0-255, standardise them and hold out the test set."""
    digits = load_digits()
    images = standardise_batch(np.rint(digits.images * (255.0 / _LEVELS)), "light_on_dark")
    labels = digits.target.astype(np.int64)
    test = holdout_mask(labels, test_fraction, "embedded")
    return SourceData("embedded", images[~test], labels[~test], images[test], labels[test])
