"""The embedded scikit-learn digits: always there, standardised, with a fixed test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digit_experiments.dataset.sources.embedded import load_embedded

from helpers.digit_checks import assert_mnist_style

CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_counts_style_and_fixed_split(tmp_path: Path) -> None:
    source = load_embedded(tmp_path)
    counts = np.bincount(source.train_labels) + np.bincount(source.test_labels)
    assert counts.tolist() == CLASS_COUNTS
    assert len(source.test_labels) == 179 and len(source.train_labels) == 1618
    assert_mnist_style(np.concatenate([source.train_images, source.test_images]))
    again = load_embedded(tmp_path)
    np.testing.assert_array_equal(again.test_images, source.test_images)
    assert list(source.checksums)[0].endswith("digits.csv.gz")
