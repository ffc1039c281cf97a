"""Assertions and synthetic-file writers shared by the dataset and augmentation tests."""

from __future__ import annotations

import numpy as np

CENTRE = 14.0


def centres_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column centre of mass of each image of a ``(N, 28, 28)`` stack."""
    weights = images.astype(np.float64)
    mass = weights.sum(axis=(1, 2))
    positions = np.arange(images.shape[1])
    return weights.sum(axis=2) @ positions / mass, weights.sum(axis=1) @ positions / mass


def assert_mnist_style(images: np.ndarray) -> None:
    """28×28 uint8, ink peaking at 255 on a black border, in a 20 px box, centred by mass within 1 px."""
    assert images.ndim == 3 and images.shape[1:] == (28, 28) and images.dtype == np.uint8
    assert (images.max(axis=(1, 2)) == 255).all(), "every image has ink at full brightness"
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (np.median(border, axis=1) == 0).all(), "bright ink on a black background"
    assert _extent((images > 0).any(axis=2)).max() <= 20 and _extent((images > 0).any(axis=1)).max() <= 20
    row_mass, col_mass = centres_of_mass(images)
    assert np.hypot(row_mass - CENTRE, col_mass - CENTRE).max() <= 1.0


def correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pearson correlation of corresponding images of two stacks."""
    a = first.reshape(len(first), -1).astype(np.float64)
    b = second.reshape(len(second), -1).astype(np.float64)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def similarity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Correlation of corresponding images, allowing a shift of up to 1 px.

    Centring by mass rounds to whole pixels, so the same digit drawn at another
    size or position may land one pixel away; thin strokes would then
    correlate poorly although the images match.
    """
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.max([correlation(np.roll(first, shift, axis=(1, 2)), second) for shift in shifts], axis=0)


def _extent(occupied: np.ndarray) -> np.ndarray:
    """Distance from the first to one past the last True entry of each row."""
    return occupied.shape[1] - occupied[:, ::-1].argmax(axis=1) - occupied.argmax(axis=1)
