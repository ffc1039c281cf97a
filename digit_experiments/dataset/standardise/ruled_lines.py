"""Ruled lines of forms and lined paper, found and erased so that the digit, not the line, is cropped.

Step 3 of :mod:`digit_experiments.dataset.standardise`: :func:`erase_rules`.
"""

from __future__ import annotations

import cv2
import numpy as np

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


def erase_rules(ink: np.ndarray, inked: np.ndarray) -> np.ndarray:
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
