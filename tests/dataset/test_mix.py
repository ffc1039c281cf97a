"""dataset=mix: pooled sources, one stratified and deterministic split, separate test sets, weights and caps."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from digit_experiments.dataset import load_dataset
from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.core.errors import ConfigError, DataError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "dataset"
MIX = {"mnist": {}, "emnist_digits": {"required": False}, "usps": {}, "not_mnist": {}}


def test_the_seed_mix_pools_every_source_and_skips_missing_emnist(
    data_dir: Path, not_mnist: SourceData, caplog: pytest.LogCaptureFixture
) -> None:
    assert OmegaConf.to_container(OmegaConf.load(CONF_DIR / "mix.yaml").sources) == MIX
    with caplog.at_level(logging.WARNING):
        splits = load_dataset(MIX, data_dir, seed=42)
    assert "Skipping optional source emnist_digits" in caplog.text
    assert "emnist" in splits.notes["dataset.skipped.emnist_digits"]
    assert {name: len(labels) for name, (_, labels) in splits.tests.items()} == {
        "mnist": 10000,
        "usps": 2007,
        "not_mnist": 10770,
    }
    pool = 60000 + 7291 + 96960
    assert len(splits.train_labels) + len(splits.val_labels) == pool
    assert len(splits.val_labels) == pytest.approx(0.1 * pool, abs=1)
    for name, expected in (("mnist", 60000), ("usps", 7291), ("not_mnist", 96960)):
        counts = splits.source_counts[name]
        assert counts["train"] + counts["val"] == expected
        assert counts["val"] == pytest.approx(0.1 * expected, abs=10)  # stratified by source and digit
    val_share = np.bincount(splits.val_labels) / (np.bincount(splits.val_labels) + np.bincount(splits.train_labels))
    np.testing.assert_allclose(val_share, 0.1, atol=0.001)
    assert len(splits.checksums) == 4 + 1 + 10


def test_split_is_deterministic_for_a_seed(data_dir: Path) -> None:
    sources = {"mnist": {"cap": 3000}, "usps": {}, "embedded": {}}
    first = load_dataset(sources, data_dir, seed=7)
    again = load_dataset(sources, data_dir, seed=7)
    other = load_dataset(sources, data_dir, seed=8)
    np.testing.assert_array_equal(first.train_images, again.train_images)
    np.testing.assert_array_equal(first.val_labels, again.val_labels)
    assert not np.array_equal(first.val_images, other.val_images)
    assert first.source_counts["mnist"]["train"] + first.source_counts["mnist"]["val"] == 3000
    for name, (images, _) in first.tests.items():
        np.testing.assert_array_equal(images, other.tests[name][0])  # test sets do not depend on the seed


def test_weights_subsample_or_repeat_training_images_only(data_dir: Path) -> None:
    splits = load_dataset({"usps": {"weight": 0.5}, "embedded": {"weight": 2.5}}, data_dir, seed=1)
    usps, embedded = splits.source_counts["usps"], splits.source_counts["embedded"]
    assert usps["train"] + usps["val"] == round(0.5 * 7291)
    assert embedded["val"] == pytest.approx(0.1 * 1618, abs=2)
    assert embedded["train"] == round(2.5 * (1618 - embedded["val"]))
    assert len(splits.train_labels) == usps["train"] + embedded["train"]
    assert len(splits.val_labels) == usps["val"] + embedded["val"]


def test_required_source_that_is_missing_stops_the_run(data_dir: Path) -> None:
    with pytest.raises(DataError, match="EMNIST digits files missing"):
        load_dataset({"mnist": {}, "emnist_digits": {}}, data_dir, seed=0)


@pytest.mark.parametrize("weight", [0, -1, "heavy"])
def test_bad_weight_is_a_config_error(weight: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="weight"):
        load_dataset({"embedded": {"weight": weight}}, tmp_path, seed=0)


def test_a_test_only_source_is_scored_but_never_trained_or_validated_on(data_dir: Path) -> None:
    sources = {"mnist": {"cap": 2000}, "usps": {"test_only": True}}
    splits = load_dataset(sources, data_dir, seed=42)
    assert splits.source_counts["usps"] == {"train": 0, "val": 0, "test": 2007}
    assert len(splits.train_labels) + len(splits.val_labels) == 2000
    usps_pixels = {image.tobytes() for image in splits.tests["usps"][0]}
    assert not usps_pixels & {image.tobytes() for image in np.concatenate([splits.train_images, splits.val_images])}
    assert splits.source_counts["mnist"]["test"] == 10000


@pytest.mark.parametrize(("sources", "message"), [
    ({"usps": {"test_only": True}}, "nothing is left to train on"),
    ({"usps": {"test_only": "yes"}}, "must be true or false"),
])
def test_test_only_mistakes_name_the_fix(data_dir: Path, sources: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_dataset(sources, data_dir, seed=42)


def test_an_optional_source_is_skipped_when_missing_but_stops_the_run_when_damaged(tmp_path: Path, caplog) -> None:
    """`required: false` also skipped a corrupt file, so a run trained without the source and said only a warning."""
    sources = {"embedded": {}, "usps": {"required": False}}
    with caplog.at_level(logging.WARNING):
        splits = load_dataset(sources, tmp_path, seed=0)
    assert "usps" not in splits.tests and "USPS file missing" in splits.notes["dataset.skipped.usps"]
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "usps.h5").write_bytes(b"not an HDF5 file" * 100)
    with pytest.raises(DataError, match="Cannot read .*usps.h5 as HDF5"):
        load_dataset(sources, tmp_path, seed=0)


@pytest.mark.parametrize(("options", "key"), [
    ({"max_train_images": 5}, "dataset.max_train_images=5"),
    ({"max_test_images_per_source": 3}, "dataset.max_test_images_per_source=3"),
    ({"sources": {"embedded": {"cap": 4}}}, "dataset.sources.embedded.cap=4"),
], ids=["train", "test", "source-cap"])
def test_a_cap_below_one_image_per_digit_names_its_key(options: dict, key: str, tmp_path: Path) -> None:
    sources = options.pop("sources", {"embedded": {}})
    with pytest.raises(ConfigError, match=f"^{key} is too small: keep at least 10 images"):
        load_dataset(sources, tmp_path, seed=0, **options)
