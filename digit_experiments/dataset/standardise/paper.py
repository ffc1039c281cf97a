"""The paper under a digit: its polarity, its background level and the light that falls across it.

Steps 1 and 2 of :mod:`digit_experiments.dataset.standardise`: :func:`ink_on_black` turns
any greyscale scan or photo into bright ink on a zero background, after
:func:`even_out_lighting` divides out a shadow across the page.
"""

from __future__ import annotations

import numpy as np

#: A border ring shows the paper when at least this share of its pixels lie within a quarter of the
#: image's range of the ring's median. Digits scanned to fill their frame (Semeion-style 16×16 scans)
#: cover much of the ring with ink, and the ring's median is then no guide to the polarity or the paper.
PAPER_RING_SHARE = 0.8
#: Light that varies across the page by at least this share of the image's range is divided out.
SHADE_SHARE = 0.1
#: How far (a share of the image's range) paper may lie from the plane of light fitted to it.
PAPER_NOISE = 0.1


def ink_on_black(images: np.ndarray, polarity: str) -> np.ndarray:
    """Turn float images into ink >= 0 on a zero background, inverting dark-on-light ones.

    Where the border ring shows the paper (almost always), it gives both the
    background level (its median) and, for ``polarity="auto"``, the polarity:
    the ink covers a minority of the image, so it pulls the image's mean away
    from the background level, below it for dark ink and above it for bright
    ink. Comparing the two, rather than the border with a fixed grey, also
    works for dim photos of paper.

    A digit stretched to fill its frame covers much of the ring with ink (see
    :func:`_ring_shows_paper`). Such an image takes the polarity most of the
    stack's other images have (a folder of one dataset shares it), or, alone,
    the one its own median says (the paper is still most of the image); its
    background is the median of its darker half once the ink is bright.
    """
    even_out_lighting(images)
    ring = _borders(images)
    background = np.median(ring, axis=1)
    paper_ring = _ring_shows_paper(images, ring, background)
    if polarity == "auto":
        flip = np.where(paper_ring, background > images.mean(axis=(1, 2)), np.median(images, axis=(1, 2)) > images.mean(axis=(1, 2)))
        if paper_ring.any() and not paper_ring.all():
            flip[~paper_ring] = flip[paper_ring].mean() > 0.5
    else:
        flip = np.full(len(images), polarity == "dark_on_light")
    images[flip] = 255.0 - images[flip]
    background[flip] = 255.0 - background[flip]
    for index in np.flatnonzero(~paper_ring):
        image = images[index]
        background[index] = np.median(image[image <= (image.min() + image.max()) / 2])
    return np.clip(images - background[:, None, None], 0.0, None)


def _borders(images: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels of each image of a ``(N, H, W)`` stack, as ``(N, 2H + 2W - 4)``."""
    return np.concatenate([images[:, 0], images[:, -1], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1)


def even_out_lighting(images: np.ndarray) -> None:
    """Divide out the light of pages lit unevenly (a shadow across a photo), in place.

    A background level is one number per image, so paper that darkens across the
    page by more than a fifth of the ink's contrast would count as ink, and the
    digit's box would take in the shadow. The light is a plane fitted to each
    image's border ring, refitted twice on the ring pixels within
    :data:`PAPER_NOISE` of the image's range of it, so that ink touching the
    border does not pull it. An image is evened out only when the plane fits at
    least :data:`PAPER_RING_SHARE` of each of the ring's four sides, stays
    bright everywhere (its dimmest point at least a fifth of its brightest) and
    varies by at least :data:`SHADE_SHARE` of the image's range: a ring that is
    partly ink, as a digit that fills its frame has, fits no plane on every
    side, and evenly lit paper is left as it is. Hand-written because the libraries' local thresholds
    (scikit-image's ``threshold_local``, OpenCV's ``adaptiveThreshold``)
    binarise, and the model reads grey ink.

    Args:
        images: ``(N, H, W)`` float32, changed in place.
    """
    ring = _borders(images).astype(np.float64)
    uneven = np.flatnonzero(ring.max(axis=1) > ring.min(axis=1))  # a uniform ring (every MNIST digit) is even
    if not len(uneven):
        return
    height, width = images.shape[1:]
    ring_terms = _light_terms(*_ring_coordinates(height, width))  # (ring pixels, 3)
    ring = ring[uneven]
    span = np.maximum(images[uneven].max(axis=(1, 2)) - images[uneven].min(axis=(1, 2)), 1e-6)
    fits = np.ones(ring.shape, bool)
    for _ in range(3):
        normal = np.einsum("rk,nr,rl->nkl", ring_terms, fits, ring_terms) + 1e-9 * np.eye(3)
        coefficients = np.linalg.solve(normal, np.einsum("rk,nr,nr->nk", ring_terms, fits, ring)[..., None])[..., 0]
        fits = np.abs(coefficients @ ring_terms.T - ring) <= PAPER_NOISE * span[:, None]
    corners = coefficients @ _light_terms(np.array([0, 0, height - 1, height - 1]), np.array([0, width - 1, 0, width - 1])).T
    lowest, highest = corners.min(axis=1), corners.max(axis=1)  # a plane's extremes are at corners
    sides = np.split(fits, np.cumsum([width, width, height - 2]), axis=1)  # top, bottom, left, right, as _borders
    on_every_side = np.min([side.mean(axis=1) for side in sides], axis=0) >= PAPER_RING_SHARE
    shaded = on_every_side & (lowest >= 0.2 * highest) & (highest - lowest >= SHADE_SHARE * span)
    rows, columns = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]
    for index, (level, per_row, per_column) in zip(uneven[shaded], coefficients[shaded].astype(np.float32)):
        light = level + per_row * rows + per_column * columns
        images[index] = np.clip(images[index] * (light.mean() / light), 0.0, 255.0)


def _ring_coordinates(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the border ring's pixels, in :func:`_borders`' order."""
    inner = np.arange(1, height - 1)
    rows = np.concatenate([np.zeros(width), np.full(width, height - 1), inner, inner])
    columns = np.concatenate([np.arange(width), np.arange(width), np.zeros(height - 2), np.full(height - 2, width - 1)])
    return rows, columns


def _light_terms(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``(pixels, 3)``: the terms of a plane of light (1, row, column) at the given pixels."""
    return np.stack([np.ones(len(rows)), rows, columns], axis=1).astype(np.float64)


def _ring_shows_paper(images: np.ndarray, ring: np.ndarray, ring_median: np.ndarray) -> np.ndarray:
    """Whether each image's border ring is mostly one level (:data:`PAPER_RING_SHARE`), and that level is
    the paper's: near the image's median, as the paper is most of a page. A digit cut out of a form
    along its cell's lines has a ring of one level too, the lines'."""
    span = np.maximum(images.max(axis=(1, 2)) - images.min(axis=(1, 2)), 1e-6)
    near_median = np.abs(ring - ring_median[:, None]) <= 0.25 * span[:, None]
    paper_level = np.abs(ring_median - np.median(images, axis=(1, 2))) <= 0.25 * span
    return (near_median.mean(axis=1) >= PAPER_RING_SHARE) & paper_level
