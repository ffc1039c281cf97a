"""The digit's box: which strokes are the digit, its fit into MNIST's 20×20 box, and its place on the canvas.

Steps 4 and 5 of :mod:`digit_experiments.dataset.standardise`: :func:`digit_extents`
crops to the digit with specks and a neighbour's strokes left out, :func:`fit_box`
resizes it, and :func:`centre_by_mass` pastes it into the 28×28 canvas.
"""

from __future__ import annotations

import cv2
import numpy as np

CANVAS = 28
BOX = 20
CENTRE = 14.0
#: A stroke (8-connected ink) belongs to the digit when its area is at least this share of the
#: largest stroke's, or when its gap to the strokes kept so far is at most NEAR_SHARE of their box's
#: longer side and it is no grain (GRAIN_SHARE). Anything else is a speck: on a loose crop, one
#: 3-pixel speck 10 px from the digit made the box twice as large and cost about 11 points of
#: MNIST validation accuracy (benchmarks/loose_scans.py).
LARGE_SHARE = 0.2
NEAR_SHARE = 0.15
#: Strokes smaller than this share of the largest (single pixels of sensor noise) never widen the box,
#: however near: joined one by one, a field of noise would grow it to the whole image.
GRAIN_SHARE = 0.02


def _extent(occupied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index and one past the last index of the True entries of each row of ``occupied``."""
    first = occupied.argmax(axis=1)
    end = occupied.shape[1] - occupied[:, ::-1].argmax(axis=1)
    return first, end


def digit_extents(inked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top, bottom, left and right (one past the last) of each image's digit, specks left out.

    The ink's bounding box is the digit's unless the ink falls apart into several
    strokes; only those images go through :func:`_stroke_extent`.

    Args:
        inked: ``(N, H, W)`` bool, the pixels bright enough to count as ink.
    """
    top, bottom = _extent(inked.any(axis=2))
    left, right = _extent(inked.any(axis=1))
    for index in np.flatnonzero(inked.any(axis=(1, 2))):
        count, _, stats, _ = cv2.connectedComponentsWithStats(inked[index].view(np.uint8), connectivity=8)
        if count > 2:  # the background and more than one stroke
            top[index], bottom[index], left[index], right[index] = _stroke_extent(stats[1:], inked.shape[2])
    return top, bottom, left, right


def _stroke_extent(strokes: np.ndarray, width: int) -> tuple[int, int, int, int]:
    """The box of the largest stroke grown by every stroke that is large, or near it and no grain of noise.

    Hand-written because OpenCV and scikit-image label the strokes but neither
    tells a digit's detached stroke (the bar of a 5, a broken line) from a speck:
    size alone cannot, since a small digit's stroke is the size of a large speck.

    Args:
        strokes: ``cv2.connectedComponentsWithStats`` rows (left, top, width, height, area), background excluded.
        width: The image's width.

    Returns:
        Top, bottom, left and right (one past the last) of the digit.
    """
    left, top = strokes[:, cv2.CC_STAT_LEFT], strokes[:, cv2.CC_STAT_TOP]
    right, bottom = left + strokes[:, cv2.CC_STAT_WIDTH], top + strokes[:, cv2.CC_STAT_HEIGHT]
    area = strokes[:, cv2.CC_STAT_AREA]
    kept = area == area.max()
    neighbours = _neighbours_cut_off(left, right, kept, width)
    large = (area >= LARGE_SHARE * area.max()) & ~neighbours
    while True:
        box_top, box_bottom, box_left, box_right = top[kept].min(), bottom[kept].max(), left[kept].min(), right[kept].max()
        gap = np.maximum.reduce([box_top - bottom, top - box_bottom, box_left - right, left - box_right, np.zeros_like(top)])
        joining = ~kept & ~neighbours & (large | ((area >= GRAIN_SHARE * area.max()) & (gap <= NEAR_SHARE * max(box_bottom - box_top, box_right - box_left))))
        if not joining.any():
            return int(box_top), int(box_bottom), int(box_left), int(box_right)
        kept |= joining


def _neighbours_cut_off(left: np.ndarray, right: np.ndarray, largest: np.ndarray, width: int) -> np.ndarray:
    """The strokes a crop cuts at its left or right edge, wholly beside the digit: a neighbour's, in a string of digits.

    Only where the digit's largest stroke reaches neither edge: a crop tight around
    the digit has its own strokes on its edges.

    Args:
        left, right: Each stroke's first column and one past its last.
        largest: Which stroke is the largest.
        width: The image's width.
    """
    digit_left, digit_right = left[largest].min(), right[largest].max()
    if digit_left == 0 or digit_right == width:
        return np.zeros(len(left), bool)
    return ((left == 0) & (right <= digit_left)) | ((right == width) & (left >= digit_right))


def fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize ``crop`` so its longer side is :data:`BOX` px, keeping the aspect ratio."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def centre_by_mass(boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Paste each box into a black 28×28 canvas with its centre of mass at (14, 14), ink peak 255.

    Args:
        boxes: ``(N, 20, 20)`` float, each digit in the top-left ``sizes[i]`` corner
            (all zeros for an image without ink).
        sizes: ``(N, 2)`` height and width of each digit.

    Returns:
        ``(N, 28, 28)`` uint8. The shift is in whole pixels, as in MNIST, and
        clamped so that no ink leaves the canvas.
    """
    peak = boxes.max(axis=(1, 2), keepdims=True)
    boxes = np.rint(boxes * (255.0 / np.maximum(peak, 1e-6))).astype(np.uint8)
    mass = np.maximum(boxes.sum(axis=(1, 2), dtype=np.float64), 1e-6)
    row_mass = boxes.sum(axis=2, dtype=np.float64) @ np.arange(BOX) / mass
    col_mass = boxes.sum(axis=1, dtype=np.float64) @ np.arange(BOX) / mass
    tops = np.clip(np.floor(CENTRE - row_mass + 0.5).astype(np.int64), 0, CANVAS - sizes[:, 0])
    lefts = np.clip(np.floor(CENTRE - col_mass + 0.5).astype(np.int64), 0, CANVAS - sizes[:, 1])
    rows = tops[:, None, None] + np.arange(BOX)[None, :, None]
    cols = lefts[:, None, None] + np.arange(BOX)[None, None, :]
    inside = (rows < CANVAS) & (cols < CANVAS)  # only zero padding of a box falls outside
    images = np.arange(len(boxes))[:, None, None]
    out = np.zeros((len(boxes), CANVAS, CANVAS), np.uint8)
    out.reshape(-1)[((images * CANVAS + rows) * CANVAS + cols)[inside]] = boxes[inside]
    return out
