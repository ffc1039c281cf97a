"""The common shape every data source returns, and the source registry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digit_experiments.core.registry import Registry

SOURCES = Registry("dataset source", "dataset.sources")


@dataclass
class SourceData:
    """One source's images, standardised to MNIST style.

    Attributes:
        name: The registry name of the source ("mnist", "usps", ...).
        train_images: ``(N, 28, 28)`` uint8, bright ink on a dark background.
        train_labels: ``(N,)`` int64 digits 0-9.
        test_images: The source's own held-out test images, same format.
        test_labels: Their labels.
        checksums: ``{file name: sha256}`` of every file the source read.
        notes: Free-form facts worth logging (e.g. "fell back to embedded").
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    checksums: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
                raise ValueError(f"{self.name} {split} images must be (N, 28, 28) uint8, got {images.shape} {images.dtype}")
            if len(images) != len(labels):
                raise ValueError(f"{self.name} {split}: {len(images)} images but {len(labels)} labels")
        self.train_labels = self.train_labels.astype(np.int64)
        self.test_labels = self.test_labels.astype(np.int64)


def digits_without_images(*label_arrays: np.ndarray) -> list[int]:
    """The digits 0-9 that none of ``label_arrays`` holds: a class a source silently lacks."""
    present = {int(label) for labels in label_arrays for label in np.unique(labels)}
    return [digit for digit in range(10) if digit not in present]
