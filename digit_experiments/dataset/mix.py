"""Combine the configured sources into one train/validation pool and per-source test sets.

The ``dataset`` config names its sources with per-source options::

    sources:
      mnist: {}
      usps: {cap: 5000}
      emnist_digits: {required: false}

Every source is loaded through the :data:`SOURCES` registry, optionally capped,
then pooled; one stratified split with the run's seed carves the validation
set out of the pool. Each source keeps its own test set, so results can be
reported per source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from sklearn.model_selection import train_test_split

from digit_experiments.dataset.base import SOURCES, SourceData
from digit_experiments.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Per-source options handled here rather than by the source's loader.
MIX_OPTIONS = ("cap", "required")


@dataclass
class DatasetSplits:
    """Arrays ready for the pipeline.

    Attributes:
        train_images / train_labels: The training part of the pooled sources.
        val_images / val_labels: The stratified validation part.
        tests: ``{source name: (images, labels)}``, each source's own test set.
        checksums: ``{file: sha256}`` of every data file read.
        notes: Facts to record as run tags (skipped sources, fallbacks).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    tests: dict[str, tuple[np.ndarray, np.ndarray]]
    checksums: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line with the split sizes, for the log."""
        tests = ", ".join(f"{name} {len(labels)}" for name, (_, labels) in self.tests.items())
        return f"train {len(self.train_labels)}, validation {len(self.val_labels)}, test: {tests}"


def check_sources(sources: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Fail early, with the valid choices, on an unknown source or source option."""
    if not sources:
        raise ConfigError("`dataset.sources` is empty. Name at least one source, e.g. `dataset=mnist`.")
    for name, options in sources.items():
        loader_options = {k: v for k, v in (options or {}).items() if k not in MIX_OPTIONS}
        SOURCES.check_arguments(name, loader_options)


def load_dataset(
    sources: Mapping[str, Mapping[str, Any] | None],
    data_dir: Path,
    seed: int,
    val_fraction: float = 0.1,
    max_train_images: int | None = None,
    max_test_images_per_source: int | None = None,
) -> DatasetSplits:
    """Load, cap, pool and split the configured sources.

    Args:
        sources: ``{source name: options}`` from the ``dataset`` config.
        data_dir: Root data directory.
        seed: Seed of every random choice (subsampling, the split).
        val_fraction: Share of the pool held out for validation.
        max_train_images: Optional cap on the pooled train+validation images
            (a stratified subsample; used by ``experiment=smoke``).
        max_test_images_per_source: Optional cap on each test set.

    Returns:
        The splits, with the checksums of every file read.
    """
    check_sources(sources)
    loaded: list[tuple[SourceData, Mapping[str, Any]]] = []
    notes: dict[str, str] = {}
    for name, options in sources.items():
        options = dict(options or {})
        mix_options = {key: options.pop(key) for key in MIX_OPTIONS if key in options}
        try:
            source = SOURCES.build(name, data_dir=data_dir, **options)
        except DataError as error:
            if mix_options.get("required", True):
                raise
            log.warning("Skipping optional source %s: %s", name, error)
            notes[f"dataset.skipped.{name}"] = str(error)[:500]
            continue
        loaded.append((source, mix_options))
        notes.update(source.notes)
    if not loaded:
        raise DataError("None of the configured dataset sources could be loaded; see the warnings above.")

    rng = np.random.default_rng(seed)
    pool_images, pool_labels, tests, checksums = [], [], {}, {}
    for source, mix_options in loaded:
        images, labels = _subsample(source.train_images, source.train_labels, mix_options.get("cap"), rng)
        pool_images.append(images)
        pool_labels.append(labels)
        tests[source.name] = _subsample(source.test_images, source.test_labels, max_test_images_per_source, rng)
        checksums.update(source.checksums)
    images, labels = _subsample(np.concatenate(pool_images), np.concatenate(pool_labels), max_train_images, rng)
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=val_fraction, random_state=seed, stratify=labels
    )
    return DatasetSplits(train_x, train_y, val_x, val_y, tests, checksums, notes)


def _subsample(
    images: np.ndarray, labels: np.ndarray, limit: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified random subset of at most ``limit`` images (all of them when no limit)."""
    if limit is None or limit >= len(labels):
        return images, labels
    if limit < 10:
        raise ConfigError(f"An image cap of {limit} is too small: keep at least 10 images (one per digit).")
    keep, _ = train_test_split(
        np.arange(len(labels)), train_size=limit, random_state=int(rng.integers(2**31)), stratify=labels
    )
    keep = np.sort(keep)
    return images[keep], labels[keep]
