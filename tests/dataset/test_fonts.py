"""The rendered-fonts source: every face draws ten distinct digits, standardised, with test faces kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.dataset import load_dataset
from digit_experiments.dataset.sources.fonts import FACES, FONT_DIR, draw_digit, load_fonts
from digit_experiments.dataset.standardise import standardise_batch

from helpers.digit_checks import assert_mnist_style, correlation


def test_counts_style_and_test_faces(tmp_path: Path) -> None:
    source = load_fonts(tmp_path, renders=3, test_fonts=["cmr10.ttf"])
    assert np.bincount(source.train_labels).tolist() == [3 * (len(FACES) - 1)] * 10
    assert np.bincount(source.test_labels).tolist() == [3] * 10
    assert_mnist_style(np.concatenate([source.train_images, source.test_images]))
    assert len(source.checksums) == len(FACES) and all(name.startswith("matplotlib ") for name in source.checksums)
    assert source.notes["dataset.fonts.test_faces"] == "cmr10.ttf"
    again = load_fonts(tmp_path, renders=3, test_fonts=["cmr10.ttf"])
    np.testing.assert_array_equal(again.train_images, source.train_images)


@pytest.mark.parametrize("face", FACES)
def test_every_face_draws_ten_distinct_digits(face: str) -> None:
    """A face without digit glyphs would draw the same fallback box for all ten."""
    rng = np.random.default_rng(0)
    digits = standardise_batch(np.stack([draw_digit(FONT_DIR / face, digit, rng) for digit in range(10)]), "light_on_dark")
    for digit in range(10):
        others = [other for other in range(10) if other != digit]
        similar = correlation(np.repeat(digits[digit : digit + 1], 9, axis=0), digits[others])
        assert similar.max() < 0.9, f"{face}: its {digit} looks like its {others[int(np.argmax(similar))]}"


def test_fonts_join_a_pool_and_keep_their_test_faces_apart(tmp_path: Path) -> None:
    splits = load_dataset(
        data_dir=tmp_path, seed=0, sources={"embedded": {}, "fonts": {"renders": 2}}, val_fraction=0.1
    )
    assert set(splits.tests) == {"embedded", "fonts"}
    assert splits.source_counts["fonts"] == {"train": 340, "val": 40, "test": 40}


@pytest.mark.parametrize(
    ("options", "message"),
    [({"renders": 0}, "renders` is 0"), ({"test_fonts": ["comic.ttf"]}, "test_fonts"), ({"test_fonts": list(FACES)}, "some, not all"),
     ({"test_fonts": []}, "some, not all")],
)
def test_bad_options_are_named(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_fonts(tmp_path, **options)
