"""Bring any digit image to MNIST style.

MNIST's images were made by fitting each digit into a 20×20 box (aspect ratio
kept, anti-aliased) and translating it so that its centre of mass lands in the
middle of a 28×28 field. Measured on the MNIST test set, that centre of mass is
pixel (14, 14) (row and column means 13.99 and 14.01, every image within
0.5 px on each axis), so (14, 14) is the target here too.

Every source other than MNIST goes through :func:`standardise_batch`:

1. make the ink bright on a dark background (detected per image, or forced);
2. subtract the background level (the median of the border, or of the paper's
   pixels when the digit fills its frame), after dividing out light that falls
   off across the page, as in a photo with a shadow (both in :mod:`.paper`);
3. erase the lines of a form or ruled paper that run across the whole image,
   past the digit on both sides (:mod:`.ruled_lines`);
4. crop to the digit's bounding box and resize it so its longer side is 20 px,
   stretching the ink to a peak of 255. The box holds the largest stroke and every
   stroke that is large, or near it and more than a grain of noise; a small speck
   of dust or noise away from the digit is left outside, so it cannot shrink the
   digit, and so is a stroke the crop cuts at its side, beside the digit (a
   neighbour's, in a string of digits);
5. paste it into a black 28×28 canvas with its centre of mass at (14, 14)
   (steps 4 and 5 in :mod:`.digit_box`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from digit_experiments.core.errors import ConfigError
from digit_experiments.dataset.standardise.digit_box import (
    BOX, CANVAS, CENTRE, GRAIN_SHARE, LARGE_SHARE, NEAR_SHARE, centre_by_mass, digit_extents, fit_box,
)
from digit_experiments.dataset.standardise.paper import PAPER_NOISE, PAPER_RING_SHARE, SHADE_SHARE, ink_on_black
from digit_experiments.dataset.standardise.ruled_lines import (
    RULE_EDGE, RULE_GAP, RULE_MARGIN, RULE_MIN_SIDE, RULE_RUN, RULE_SKEW, RULE_THICKNESS, erase_rules,
)

#: Pixels below this fraction of the ink's peak do not count towards the
#: bounding box, so paper texture and faint smudges do not shrink the digit.
INK_THRESHOLD = 0.2
POLARITIES = ("auto", "light_on_dark", "dark_on_light")

#: Everything the output depends on. It is part of every cache key, so a change
#: here (bump ``version`` when the method changes) invalidates cached sources.
SETTINGS = {
    "canvas": CANVAS, "box": BOX, "centre": CENTRE, "ink_threshold": INK_THRESHOLD, "paper_ring_share": PAPER_RING_SHARE,
    "shade_share": SHADE_SHARE, "paper_noise": PAPER_NOISE, "large_share": LARGE_SHARE, "near_share": NEAR_SHARE, "grain_share": GRAIN_SHARE,
    "rule_edge": RULE_EDGE, "rule_thickness": RULE_THICKNESS, "rule_margin": RULE_MARGIN, "rule_run": RULE_RUN,
    "rule_skew": RULE_SKEW, "rule_gap": RULE_GAP, "rule_min_side": RULE_MIN_SIDE, "version": 10,
}

#: Images standardised together; bounds the float scratch memory (~25 MB at 28×28).
_SLICE = 8192


def check_polarity(polarity: str) -> str:
    """Return ``polarity`` if it is one of :data:`POLARITIES`, else raise a ConfigError."""
    if polarity not in POLARITIES:
        raise ConfigError(
            f"Unknown polarity {polarity!r}. Use one of {', '.join(POLARITIES)}: `auto` detects it per image, "
            "`dark_on_light` means dark ink on light paper, `light_on_dark` bright ink on black (like MNIST)."
        )
    return polarity


def standardise_batch(images: np.ndarray, polarity: str = "auto") -> np.ndarray:
    """Standardise a stack of same-size greyscale digit images to MNIST style.

    Polarity, background level and bounding boxes are computed for the whole
    stack at once; only the resize and the paste run per image. The stack is
    processed in slices, so a large source needs little scratch memory.

    Args:
        images: ``(N, H, W)``, any numeric dtype, 0 = black and 255 = white.
        polarity: ``"auto"`` to detect it per image, or the input's known
            polarity: ``"light_on_dark"`` (MNIST-like) or ``"dark_on_light"``
            (ink on paper).

    Returns:
        ``(N, 28, 28)`` uint8 with bright ink peaking at 255 on a zero
        background; an image without any ink comes out all zeros.
    """
    check_polarity(polarity)
    out = np.zeros((len(images), CANVAS, CANVAS), np.uint8)
    for start in range(0, len(images), _SLICE):
        chunk = images[start : start + _SLICE]
        out[start : start + len(chunk)] = _standardise_slice(chunk.astype(np.float32), polarity)
    return out


def standardise_images(images: Sequence[np.ndarray], polarity: str = "auto") -> np.ndarray:
    """Standardise greyscale images of mixed sizes (a user's folder), keeping their order.

    Images of the same size are batched together through :func:`standardise_batch`.

    Returns:
        ``(N, 28, 28)`` uint8.
    """
    out = np.zeros((len(images), CANVAS, CANVAS), np.uint8)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, image in enumerate(images):
        by_shape[image.shape].append(index)
    for indices in by_shape.values():
        out[indices] = standardise_batch(np.stack([images[i] for i in indices]), polarity)
    return out


def has_ink(images: np.ndarray) -> np.ndarray:
    """Which standardised images show something: ``(n,)`` bool for ``(n, 28, 28)`` uint8.

    Standardisation stretches any ink it finds to a peak of 255 and gives an
    image without ink (a blank or uniform scan) as all zeros, so a zero peak is
    its verdict of "no ink": the folder loader drops such files, and ``predict``
    reports them instead of naming a digit for an empty canvas.
    """
    return images.max(axis=(1, 2), initial=0) > 0


def _standardise_slice(images: np.ndarray, polarity: str) -> np.ndarray:
    """:func:`standardise_batch` for one slice of float32 images."""
    ink = ink_on_black(images, polarity)
    peak = ink.max(axis=(1, 2))
    inked = ink > INK_THRESHOLD * peak[:, None, None]
    ruled = erase_rules(ink, inked)
    peak[ruled] = ink[ruled].max(axis=(1, 2))
    inked[ruled] = ink[ruled] > INK_THRESHOLD * peak[ruled, None, None]
    top, bottom, left, right = digit_extents(inked)
    boxes = np.zeros((len(ink), BOX, BOX), np.float32)
    sizes = np.zeros((len(ink), 2), np.int64)
    for i in np.flatnonzero(peak > 0):
        box = fit_box(ink[i, top[i] : bottom[i], left[i] : right[i]])
        boxes[i, : box.shape[0], : box.shape[1]] = box
        sizes[i] = box.shape
    return centre_by_mass(boxes, sizes)
