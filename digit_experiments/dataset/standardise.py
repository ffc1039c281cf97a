"""Bring any digit image to MNIST style.

MNIST's images were made by fitting each digit into a 20×20 box (aspect ratio
kept, anti-aliased) and translating it so that its centre of mass lands in the
middle of a 28×28 field. Measured on the MNIST test set, that centre of mass is
pixel (14, 14) (row and column means 13.99 and 14.01, every image within
0.5 px on each axis), so (14, 14) is the target here too.

Every source other than MNIST goes through :func:`standardise_batch`:

1. make the ink bright on a dark background (detected per image, or forced);
2. subtract the background level (the median of the border, or of the paper's
   pixels when the digit fills its frame, see :func:`_ink_on_black`), after
   dividing out light that falls off across the page, as in a photo with a
   shadow (see :func:`_even_out_lighting`);
3. erase the lines of a form or ruled paper that run across the whole image,
   past the digit on both sides (see :func:`_erase_rules`);
4. crop to the digit's bounding box and resize it so its longer side is 20 px,
   stretching the ink to a peak of 255. The box holds the largest stroke and every
   stroke that is large, or near it and more than a grain of noise; a small speck
   of dust or noise away from the digit is left outside (see :func:`_digit_extents`),
   so it cannot shrink the digit, and so is a stroke the crop cuts at its side, beside
   the digit (a neighbour's, in a string of digits);
5. paste it into a black 28×28 canvas with its centre of mass at (14, 14).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import cv2
import numpy as np

from digit_experiments.core.errors import ConfigError

CANVAS = 28
BOX = 20
CENTRE = 14.0
#: Pixels below this fraction of the ink's peak do not count towards the
#: bounding box, so paper texture and faint smudges do not shrink the digit.
INK_THRESHOLD = 0.2
#: A border ring shows the paper when at least this share of its pixels lie within a quarter of the
#: image's range of the ring's median. Digits scanned to fill their frame (Semeion-style 16×16 scans)
#: cover much of the ring with ink, and the ring's median is then no guide to the polarity or the paper.
PAPER_RING_SHARE = 0.8
#: Light that varies across the page by at least this share of the image's range is divided out.
SHADE_SHARE = 0.1
#: How far (a share of the image's range) paper may lie from the plane of light fitted to it.
PAPER_NOISE = 0.1
POLARITIES = ("auto", "light_on_dark", "dark_on_light")
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
#: A ruled line (of a form, or of lined paper) runs straight across the image to within RULE_EDGE of
#: both ends, is at most RULE_THICKNESS of the image thick, and goes past the rest of the ink by at
#: least RULE_MARGIN of the image on both sides; only then is it erased, and only the stripe through
#: its runs of ink of at least RULE_RUN of the image's width (a stroke of the digit that touches it
#: stays). A digit's own bar (the top of a 7 or a 5 that fills its box) reaches only as far as the
#: digit does. A line may run askew by up to RULE_SKEW (rows per column: about 2°), and be dashed
#: or dotted, with gaps of up to RULE_GAP of the image's width no longer than its dashes.
RULE_EDGE = 0.03
RULE_THICKNESS = 0.06
RULE_MARGIN = 0.1
RULE_RUN = 0.25
RULE_SKEW = 0.035
RULE_GAP = 0.1
#: No line is looked for in an image with a side shorter than this: such images are crops of the digit
#: alone (MNIST's 28×28, USPS's and Semeion's 16×16 frames), whose own strokes may run edge to edge.
RULE_MIN_SIDE = 32

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


def _borders(images: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels of each image of a ``(N, H, W)`` stack, as ``(N, 2H + 2W - 4)``."""
    return np.concatenate([images[:, 0], images[:, -1], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1)


def _standardise_slice(images: np.ndarray, polarity: str) -> np.ndarray:
    """:func:`standardise_batch` for one slice of float32 images."""
    ink = _ink_on_black(images, polarity)
    peak = ink.max(axis=(1, 2))
    inked = ink > INK_THRESHOLD * peak[:, None, None]
    ruled = _erase_rules(ink, inked)
    peak[ruled] = ink[ruled].max(axis=(1, 2))
    inked[ruled] = ink[ruled] > INK_THRESHOLD * peak[ruled, None, None]
    top, bottom, left, right = _digit_extents(inked)
    boxes = np.zeros((len(ink), BOX, BOX), np.float32)
    sizes = np.zeros((len(ink), 2), np.int64)
    for i in np.flatnonzero(peak > 0):
        box = _fit_box(ink[i, top[i] : bottom[i], left[i] : right[i]])
        boxes[i, : box.shape[0], : box.shape[1]] = box
        sizes[i] = box.shape
    return _centre_by_mass(boxes, sizes)


def _ink_on_black(images: np.ndarray, polarity: str) -> np.ndarray:
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
    _even_out_lighting(images)
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


def _even_out_lighting(images: np.ndarray) -> None:
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


def _erase_rules(ink: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """Erase the ruled lines of each image (a form's cell, lined paper) from ``ink``, in place.

    A line across the page would otherwise be the largest stroke, and the digit's
    box the whole page. Only images of :data:`RULE_MIN_SIDE` px or more a side are
    searched, and only where ink in a band of rows as tall as a line askew drifts
    (or of columns) spans the image. Where a stroke of the digit crosses a line,
    the crossing is kept (see :func:`_rule_pixels`).

    Args:
        ink: ``(N, H, W)`` float ink on a zero background, changed in place.
        inked: ``(N, H, W)`` bool, the pixels that count as ink.

    Returns:
        ``(N,)`` bool, the images that had lines erased.
    """
    height, width = inked.shape[1:]
    ruled = np.zeros(len(ink), bool)
    if min(height, width) < RULE_MIN_SIDE:
        return ruled
    crossed = _spanned_band(inked) | _spanned_band(inked.transpose(0, 2, 1))
    for index in np.flatnonzero(crossed):
        erased = _rule_pixels(inked[index])
        if erased.any():
            ink[index][erased] = 0.0
            ruled[index] = True
    return ruled


def _spanned_band(inked: np.ndarray) -> np.ndarray:
    """Whether ink in some band of rows, :func:`_drift` either side of one, spans each image as a line would.

    Counts the columns with ink in the band, and asks for half of them: a dashed line,
    whose dashes are at least as long as its gaps, has that much; a digit alone rarely does.

    Args:
        inked: ``(N, H, W)`` bool.
    """
    height, width = inked.shape[1:]
    band = min(height, 2 * _drift(width) + 1)
    running = np.cumsum(np.pad(inked, ((0, 0), (1, 0), (0, 0))), axis=1, dtype=np.int32)
    covered = ((running[:, band:] - running[:, :-band]) > 0).sum(axis=2)
    return covered.max(axis=1) >= width / 2


def _dash_gap(width: int) -> int:
    """How far each dash of a dashed or dotted line is stretched either side to meet the next: half of :data:`RULE_GAP`."""
    return max(1, int(np.ceil(RULE_GAP * width / 2)))


def _drift(width: int) -> int:
    """How many rows a line askew by up to :data:`RULE_SKEW` drifts either side of its middle across ``width``."""
    return max(1, int(np.ceil(RULE_SKEW * width / 2)))


def _rule_pixels(inked: np.ndarray) -> np.ndarray:
    """The pixels of one image's ruled lines, crossings with the digit's strokes left out.

    Hand-written because OpenCV's morphology finds long straight runs but not
    which of them are lines past the digit rather than its own strokes. Lines
    in one direction are erased only when the ink left leaves a margin of
    :data:`RULE_MARGIN` at both of their ends.

    Args:
        inked: ``(H, W)`` bool.

    Returns:
        ``(H, W)`` bool, the pixels to erase (none when there is no ruled line).
    """
    across, down = _lines_across(inked), _lines_across(inked.T).T
    rest = inked & ~across & ~down
    erased = np.zeros_like(inked)
    if not rest.any():
        return erased
    rows, columns = np.flatnonzero(rest.any(axis=1)), np.flatnonzero(rest.any(axis=0))
    if across.any() and _leaves_margins(columns, inked.shape[1]):
        erased |= across & ~_crossings(rest, across)
    if down.any() and _leaves_margins(rows, inked.shape[0]):
        erased |= down & ~_crossings(rest.T, down.T).T
    return erased


def _leaves_margins(occupied: np.ndarray, size: int) -> bool:
    """Whether the indices ``occupied`` keep :data:`RULE_MARGIN` of ``size`` clear at both ends."""
    return bool(occupied[0] >= RULE_MARGIN * size and occupied[-1] < (1 - RULE_MARGIN) * size)


def _lines_across(inked: np.ndarray) -> np.ndarray:
    """The lines that run across ``inked`` from edge to edge (within :data:`RULE_EDGE`), and are thin.

    A line may be askew by up to :data:`RULE_SKEW` (a page scanned slightly askew) and
    dashed (each dash is stretched to meet the next, :func:`_dash_gap`), and is thin
    when its ink, spread over its length, is at most :data:`RULE_THICKNESS` of the
    image (at least a pixel) thick. Its band holds the rows it drifts across; the
    line itself is the straight stripe through the band's long runs of ink, as thick as
    most of its columns are (see :func:`_stripe`), so that a digit that sits on the line
    keeps its strokes beside it. The stripe takes the faint ink on either side too,
    where a scan blurs the line.
    """
    height, width = inked.shape
    dashes_joined = cv2.dilate(inked.view(np.uint8), np.ones((1, 2 * _dash_gap(width) + 1), np.uint8))
    drifted = np.ones((2 * _drift(width) + 1, 1), np.uint8)
    bands = cv2.dilate(_long_runs(cv2.dilate(dashes_joined, drifted), int(np.ceil((1 - 2 * RULE_EDGE) * width))), drifted)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bands, connectivity=8)
    ink_per_band = np.bincount(labels[inked], minlength=count)[1:]
    thin = 1 + np.flatnonzero(ink_per_band <= _thickest_line(height) * stats[1:, cv2.CC_STAT_WIDTH])
    stepped = cv2.dilate(dashes_joined, np.ones((3, 1), np.uint8))  # a run may step by a row
    runs = _long_runs(stepped, int(np.ceil(RULE_RUN * width))).astype(bool) & inked
    lines = np.zeros_like(inked)
    for label in thin:
        band = labels == label
        lines |= band & _stripe(runs & band, inked)
    return lines


def _thickest_line(height: int) -> float:
    """The thickest a ruled line may be across an image ``height`` px tall: :data:`RULE_THICKNESS` of it, at least a pixel."""
    return max(1.0, RULE_THICKNESS * height)


def _long_runs(image: np.ndarray, length: int) -> np.ndarray:
    """The pixels of ``image`` (uint8) in runs along a row of at least ``length`` (made odd), all inside the image.

    OpenCV's opening takes the pixels past the border as set, so a run that reaches an
    edge would pass at half the length; here they are empty. An even kernel would shift
    the opening's result by a column, losing one at an edge.
    """
    kernel = np.ones((1, length | 1), np.uint8)
    return cv2.morphologyEx(image, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _stripe(runs: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """The pixels of the straight line through ``runs`` (one line's long runs of ink).

    The line's course is fitted to the middle of its runs in each column, then again
    to the columns no thicker than the median one, so the columns where a stroke of
    the digit joins it move it little; the line is as thick as the median column.
    Faint pixels (not ``inked``) a pixel further out are the line's too, where a
    scan blurs it.
    """
    rows, columns = np.nonzero(runs)
    if not len(rows):
        return runs
    per_column = np.bincount(columns, minlength=runs.shape[1])
    thickness = np.median(per_column[per_column > 0])
    plain = (per_column > 0) & (per_column <= thickness)
    middles = np.bincount(columns, weights=rows, minlength=runs.shape[1])[plain] / per_column[plain]
    slope, level = np.polyfit(np.flatnonzero(plain), middles, 1) if plain.sum() > 1 else (0.0, middles[0])
    reach = thickness / 2 + np.where(inked, 0.5, 1.5)
    offsets = np.arange(runs.shape[0])[:, None] - (level + slope * np.arange(runs.shape[1]))[None, :]
    return np.abs(offsets) < reach


def _crossings(rest: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The pixels of horizontal ``lines`` that join the digit's ink above them to its ink below: a stroke crossing a line.

    A stroke may cross upright or slanted, so the gap is closed straight down and along both
    diagonals, over the thickest line :func:`_lines_across` takes, a blurred row on each side.

    Args:
        rest: ``(H, W)`` bool, the ink that is not a line.
        lines: ``(H, W)`` bool, the lines' pixels.
    """
    reach = int(_thickest_line(rest.shape[0])) + 3
    joined = np.zeros_like(rest)
    for bridge in (np.ones((reach, 1), np.uint8), np.eye(reach, dtype=np.uint8), np.fliplr(np.eye(reach, dtype=np.uint8))):
        joined |= cv2.morphologyEx(rest.view(np.uint8), cv2.MORPH_CLOSE, bridge).astype(bool)
    return lines & joined


def _extent(occupied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index and one past the last index of the True entries of each row of ``occupied``."""
    first = occupied.argmax(axis=1)
    end = occupied.shape[1] - occupied[:, ::-1].argmax(axis=1)
    return first, end


def _digit_extents(inked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize ``crop`` so its longer side is :data:`BOX` px, keeping the aspect ratio."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _centre_by_mass(boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
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
