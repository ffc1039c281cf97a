"""Test-time augmentation: a few deterministic views of each image whose predictions are averaged.

Small rotations and zooms of a standardised digit are still the same digit;
averaging the model's probabilities over them smooths out the odd view it gets
wrong. The views are fixed (no randomness), so a prediction is reproducible.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

#: Test-time augmentations: (rotation in degrees, scale) about the image centre; the first is the identity.
TTA_TRANSFORMS = ((0.0, 1.0), (-8.0, 1.0), (8.0, 1.0), (0.0, 0.9), (0.0, 1.1))


def affine_view(images: np.ndarray, angle: float, scale: float, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Every image rotated by ``angle`` degrees and scaled by ``scale`` about its centre, then shifted.

    Args:
        images: ``(n, 28, 28)`` uint8 standardised images.
        angle: Rotation in degrees, counter-clockwise.
        scale: Zoom factor (above 1 enlarges the digit).
        shift: ``(dx, dy)`` in pixels, right and down.

    Returns:
        The ``(n, 28, 28)`` uint8 views; ``images`` itself for the identity.
    """
    if angle == 0.0 and scale == 1.0 and tuple(shift) == (0.0, 0.0):
        return images
    matrix = cv2.getRotationMatrix2D((13.5, 13.5), angle, scale)
    matrix[:, 2] += shift
    return np.array([cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR) for image in images], np.uint8).reshape(
        images.shape
    )


def tta_views(images: np.ndarray) -> Iterator[np.ndarray]:
    """Each of :data:`TTA_TRANSFORMS` applied to a stack of images, the identity first.

    Args:
        images: ``(n, 28, 28)`` uint8 standardised images.

    Returns:
        An iterator of ``(n, 28, 28)`` uint8 stacks, one per transform.
    """
    for angle, scale in TTA_TRANSFORMS:
        yield affine_view(images, angle, scale)
