"""Combine the configured sources into one train/validation pool and per-source test sets.

The ``dataset`` config names its sources with per-source options::

    sources:
      mnist: {}
      usps: {weight: 3}
      not_mnist: {cap: 30000}
      emnist_digits: {required: false}
      not_mnist: {test_only: true}

Every source is loaded through the :data:`SOURCES` registry; ``cap`` limits
how many of its training images enter the pool (a stratified subsample) and
``weight`` scales its share: below 1 it keeps that fraction of the images,
above 1 its training images are repeated (after the split, so no copy reaches
the validation set). A source with ``required: false`` is skipped, with a
warning and a run tag, when its files are missing (not when they are damaged). A source with
``test_only: true`` contributes its test set alone: none of its images is
trained on or validated on, so its score measures handwriting the model never
saw. One stratified split with the run's seed (stratified by source and
digit) carves the validation set out of the pool; with ``val_fraction`` 0 (a
refit) there is none. Each source keeps its own test set, so results can be
reported per source.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from sklearn.model_selection import train_test_split

from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.core.errors import ConfigError, DataError, DataMissing

log = logging.getLogger(__name__)

#: Per-source options handled here rather than by the source's loader.
MIX_OPTIONS = ("cap", "weight", "required", "test_only")


@dataclass
class DatasetSplits:
    """Arrays ready for the pipeline.

    Attributes:
        train_images / train_labels: The training part of the pooled sources.
        val_images / val_labels: The stratified validation part.
        tests: ``{source name: (images, labels)}``, each source's own test set.
        checksums: ``{file: sha256}`` of every data file read.
        notes: Facts to record as run tags (skipped sources, fallbacks).
        source_counts: ``{source: {"train": n, "val": n, "test": n}}``, how
            many images each source contributes to each split (train counts
            include the repeats of a weight above 1).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    tests: dict[str, tuple[np.ndarray, np.ndarray]]
    checksums: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    source_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line with the split sizes, for the log."""
        tests = ", ".join(f"{name} {len(labels)}" for name, (_, labels) in self.tests.items())
        return f"train {len(self.train_labels)}, validation {len(self.val_labels)}, test: {tests}"


def check_sources(sources: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Fail early, with the valid choices, on an unknown source, source option or bad weight."""
    if not sources:
        raise ConfigError("`dataset.sources` is empty. Name at least one source, e.g. `dataset=mnist`.")
    for name, options in sources.items():
        options = options or {}
        loader_options = {k: v for k, v in options.items() if k not in MIX_OPTIONS}
        SOURCES.check_arguments(name, loader_options)
        if not isinstance(options.get("test_only", False), bool):
            raise ConfigError(f"`dataset.sources.{name}.test_only` must be true or false, got {options['test_only']!r}.")
        weight = options.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(
                f"`dataset.sources.{name}.weight` must be a number above 0 (0.5 keeps half of the source's "
                f"training images, 2 shows each twice), got {weight!r}."
            )


def load_dataset(
    sources: Mapping[str, Mapping[str, Any] | None],
    data_dir: Path,
    seed: int,
    val_fraction: float = 0.1,
    max_train_images: int | None = None,
    max_test_images_per_source: int | None = None,
    split_seed: int | None = None,
) -> DatasetSplits:
    """Load, cap, weight, pool and split the configured sources.

    Args:
        sources: ``{source name: options}`` from the ``dataset`` config.
        data_dir: Root data directory.
        seed: Seed of every random choice (subsampling, the split, repeats).
        val_fraction: Share of the pool held out for validation; 0 keeps no
            validation set and trains on the whole pool (``refit=all_data``).
        max_train_images: Optional cap on the pooled train+validation images
            (a stratified subsample; used by ``experiment=smoke``).
        max_test_images_per_source: Optional cap on each test set.
        split_seed: Seed of the data choices instead of ``seed`` (``dataset.split_seed``):
            members of an ensemble vary ``seed`` but keep one validation set.

    Returns:
        The splits, with the checksums of every file read.
    """
    check_sources(sources)
    seed = seed if split_seed is None else split_seed
    loaded, notes = _load_sources(sources, data_dir)
    rng = np.random.default_rng(seed)
    images, labels, origin, tests, checksums = _pool_sources(loaded, max_test_images_per_source, rng)
    pool = _subsample(labels, max_train_images, rng, "dataset.max_train_images")
    train, val = _split_validation(pool, labels, origin, val_fraction, seed)
    weights = np.array([1.0 if options.get("test_only") else float(options.get("weight", 1.0)) for _, options in loaded])
    train = _repeat(train, origin, weights, rng)
    counts = {
        source.name: {
            "train": int((origin[train] == index).sum()),
            "val": int((origin[val] == index).sum()),
            "test": len(tests[source.name][1]),
        }
        for index, (source, _) in enumerate(loaded)
    }
    return DatasetSplits(images[train], labels[train], images[val], labels[val], tests, checksums, notes, counts)


def _pool_sources(
    loaded: list[tuple[SourceData, dict[str, Any]]], max_test_images_per_source: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str]]:
    """Pool the training images every source keeps after its cap and weight; keep each source's test set apart.

    Sources are visited in config order, drawing from ``rng`` as they go, so
    the same config and seed always give the same pool.

    Args:
        loaded: ``(source, mix options)`` pairs from :func:`_load_sources`.
        max_test_images_per_source: Optional cap on each test set.
        rng: The generator of every subsample.

    Returns:
        The pooled images and labels, the index in ``loaded`` each pooled image
        came from, the per-source test sets and the checksums of every file read.
    """
    pool_images, pool_labels, pool_origin, tests, checksums = [], [], [], {}, {}
    for index, (source, mix_options) in enumerate(loaded):
        if not mix_options.get("test_only"):
            keep = _subsample(source.train_labels, mix_options.get("cap"), rng, f"dataset.sources.{source.name}.cap")
            weight = float(mix_options.get("weight", 1.0))
            if weight < 1:
                keep = keep[_subsample(source.train_labels[keep], max(10, round(weight * len(keep))), rng, "weight")]
            pool_images.append(source.train_images[keep])
            pool_labels.append(source.train_labels[keep])
            pool_origin.append(np.full(len(keep), index))
        if not len(source.test_labels):
            raise DataError(
                f"Dataset source `{source.name}` has no test images, so the run could not be scored on it. If its "
                f"test set is held out of its {len(source.train_labels)} image(s) (`test_fraction`), each digit's "
                "share rounds to none: add images (about 10 of each digit) or raise `test_fraction`. If it has a "
                "test set of its own (a folder's `test/`, a CSV's `test_path`), put digits in it."
            )
        test_keep = _subsample(source.test_labels, max_test_images_per_source, rng, "dataset.max_test_images_per_source")
        tests[source.name] = (source.test_images[test_keep], source.test_labels[test_keep])
        checksums.update(source.checksums)
    if not pool_labels:
        raise ConfigError(
            "Every dataset source is `test_only`, so nothing is left to train on. "
            "Set `test_only: false` (or remove it) for at least one source."
        )
    pooled = (np.concatenate(pool_images), np.concatenate(pool_labels), np.concatenate(pool_origin))
    return *pooled, tests, checksums


def _load_sources(
    sources: Mapping[str, Mapping[str, Any] | None], data_dir: Path
) -> tuple[list[tuple[SourceData, dict[str, Any]]], dict[str, str]]:
    """Build every source; skip optional ones that fail, with a warning and a note."""
    loaded: list[tuple[SourceData, dict[str, Any]]] = []
    notes: dict[str, str] = {}
    for name, options in sources.items():
        options = dict(options or {})
        mix_options = {key: options.pop(key) for key in MIX_OPTIONS if key in options}
        try:
            source = SOURCES.build(name, data_dir=data_dir, **options)
        except DataError as error:  # only absent files skip an optional source: damaged ones would go unnoticed
            if mix_options.get("required", True) or not isinstance(error, DataMissing):
                raise
            log.warning("Skipping optional source %s: %s", name, error)
            notes[f"dataset.skipped.{name}"] = str(error)[:500]
            continue
        loaded.append((source, mix_options))
        notes.update(source.notes)
    if not loaded:
        raise DataError("None of the configured dataset sources could be loaded; see the warnings above.")
    return loaded, notes


def _subsample(labels: np.ndarray, limit: int | None, rng: np.random.Generator, key: str) -> np.ndarray:
    """Sorted indices of a stratified random subset of at most ``limit`` labels (all when no limit).

    ``key`` is the option that set ``limit``, named in the error when it cannot hold one image per digit.
    """
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    if limit < 10:
        raise ConfigError(f"{key}={limit} is too small: keep at least 10 images (one per digit), or null for no cap.")
    keep, _ = train_test_split(
        np.arange(len(labels)), train_size=limit, random_state=int(rng.integers(2**31)), stratify=labels
    )
    return np.sort(keep)


def _split_validation(
    pool: np.ndarray, labels: np.ndarray, origin: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pool's training and validation indices; ``val_fraction`` 0 trains on the whole pool (a refit)."""
    if val_fraction == 0:
        return pool, pool[:0]
    if len(pool) - math.ceil(val_fraction * len(pool)) < 1:
        raise DataError(
            f"The training pool has {len(pool)} image(s): too few to hold out {val_fraction:.0%} for validation "
            "and train on the rest. Add images, or lower `dataset.val_fraction`."
        )
    return train_test_split(
        pool, test_size=val_fraction, random_state=seed, stratify=_strata(labels[pool], origin[pool], val_fraction)
    )


def _strata(labels: np.ndarray, origin: np.ndarray, val_fraction: float) -> np.ndarray | None:
    """What the validation split is stratified by: (source, digit) pairs, else digits, else nothing.

    A stratified split needs at least 2 images of each stratum, and at least as
    many validation and training images as there are strata. A small folder of
    one's own digits (60 images of 9 digits, 6 of them for validation) can have
    neither; it is then split at random, with a warning, rather than not at all.
    """
    validation = math.ceil(val_fraction * len(labels))  # scikit-learn's rounding of a fractional test_size
    for strata in (origin * 10 + labels, labels):
        counts = np.bincount(strata)
        counts = counts[counts > 0]
        if counts.min() >= 2 and min(validation, len(labels) - validation) >= len(counts):
            return strata
    log.warning(
        "The validation split is drawn at random, not stratified by digit: %d training images of %d digits are too few "
        "for a stratified %.0f %% split.", len(labels), len(np.unique(labels)), 100 * val_fraction,
    )
    return None


def _repeat(train: np.ndarray, origin: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Repeat the training indices of each source with a weight above 1, then shuffle.

    A weight of 2.5 shows every image of the source twice plus a random half a
    third time.
    """
    if (weights <= 1).all():
        return train
    extra = []
    for index in np.flatnonzero(weights > 1):
        members = train[origin[train] == index]
        whole, fraction = divmod(weights[index], 1.0)
        extra += [members] * (int(whole) - 1)
        extra.append(rng.choice(members, round(fraction * len(members)), replace=False))
    return rng.permutation(np.concatenate([train, *extra]))
