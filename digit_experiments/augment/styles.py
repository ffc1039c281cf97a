"""Handwriting and scanning styles MNIST lacks, drawn onto training digits.

MNIST's American writers make a "1" as a bare stroke. Much of the world
writes it with a long up-stroke (a flag) from the top, and often a foot.
Models trained on MNIST read such 1s as 7s or 4s (``benchmarks/writer_styles.py``
measures it), and no source on hand carries the style, so it is drawn: a flag
(and sometimes a foot) is added to a share of the 1s, in the digit's own
stroke width. This is a label-dependent change that no augmentation library
makes, hence the few lines of OpenCV here.

Many writers end a 9's stem with a tail that curls back to the left, as in a
cursive "g". MNIST has few such 9s, and a model trained on it reads them as 8s.
``curled_nines`` draws that tail on a share of the 9s, below the loop, so that
the digit stays a 9 and does not close into an 8.

Some digit sets were scanned by stretching each digit to fill its frame
(Semeion's 16×16 binary scans): a plain 1 becomes a block, a 9 as wide as it is
tall. ``box_filled`` redoes that scan on a share of the digits and standardises
the result again, so the model sees what ``predict`` makes of such files. An
affine width stretch cannot: it would change the digit's size as well, which
the standardisation undoes.

Styles are drawn once, on the static augmented copy (``mode: static``), or
afresh on every batch before its transforms (``mode: realtime``), in the order
``augment.styles`` lists them.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import cv2
import numpy as np

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.registry import Registry
from digit_experiments.dataset.standardise import INK_THRESHOLD, standardise_batch

#: A style drawn in place: ``(images, labels, rng) -> None``.
Style = Callable[[np.ndarray, np.ndarray, np.random.Generator], None]
#: The styles ``augment.styles`` may name; each builder takes the style's options.
STYLES = Registry("style", "augment.styles")
_INK = 128
#: Columns per row of lean beyond which a 1 gets no flag.
_MAX_SLANT = 0.3
#: Columns per row of drift beyond which the end of a 9 is a tail already turning, not a stem.
_MAX_STEM_SLOPE = 0.8
#: Black margin around a digit whose new stroke may leave the 28×28 canvas before it is standardised again.
_CANVAS_MARGIN = 10


def check_styles(styles: Mapping[str, Mapping[str, Any] | None], mode: str) -> None:
    """Refuse an unknown style or option, or styles with no augmentation pass to draw them in."""
    for name, options in styles.items():
        STYLES.check_arguments(name, (options or {}).keys())
    if styles and mode not in ("static", "realtime"):
        raise ConfigError(
            "`augment.styles` are drawn by the Albumentations pass (on the static copy, or per batch in real time), "
            f"but `augment.albumentations.mode` is {mode!r}. Set `augment.albumentations.mode=realtime` (or `static`), "
            "or `augment.styles=null`."
        )


def apply_styles(images: np.ndarray, labels: np.ndarray, styles: Mapping[str, Mapping[str, Any] | None], seed: int) -> np.ndarray:
    """``images`` with each configured style drawn on its share of the digits it concerns (a copy).

    Args:
        images: ``(n, 28, 28)`` uint8 standardised digits (the static augmented copy, or a batch).
        labels: Their ``(n,)`` digits.
        styles: ``{style name: options}`` as in ``augment.styles``.
        seed: The run's seed, or the batch's; the same seed draws the same strokes.
    """
    images = images.copy()
    for index, (name, options) in enumerate(styles.items()):
        STYLES.build(name, **(options or {}))(images, labels, np.random.default_rng([seed, 1 + index]))
    return images


class _Ink(NamedTuple):
    """Where a digit's ink is: the row and column of each inked pixel, and its top, bottom and height in rows."""

    rows: np.ndarray
    columns: np.ndarray
    top: int
    bottom: int
    height: int


def _chosen_digits(
    images: np.ndarray, labels: np.ndarray, digit: int, p: float, rng: np.random.Generator
) -> Iterator[tuple[int, _Ink]]:
    """The index and ink of a share ``p`` of the images of ``digit``, as the stroke styles choose them.

    One draw of ``rng`` per image of ``digit`` decides; a chosen digit with under 4
    inked pixels or 8 rows is skipped, since no stroke can be fitted to it. The
    generator is lazy, so the caller's own draws for one digit come before the
    next digit's choice, and a style's strokes depend only on the seed.
    """
    for index in np.flatnonzero(labels == digit):
        if rng.random() >= p:
            continue
        rows, columns = np.nonzero(images[index] > _INK)
        if len(rows) < 4:
            continue
        top, bottom = int(rows.min()), int(rows.max())
        height = bottom - top + 1
        if height >= 8:
            yield index, _Ink(rows, columns, top, bottom, height)


@STYLES.register("european_ones")
def european_ones(
    p: float = 0.5,
    foot_p: float = 0.3,
    flag_length: tuple[float, float] = (0.25, 0.5),
    flag_angle: tuple[float, float] = (25.0, 55.0),
) -> Style:
    """Give a share ``p`` of the 1s a flag, and a share ``foot_p`` of those a foot.

    Args:
        p: Share of the (upright) 1s that get a flag.
        foot_p: Share of the flagged 1s that also get a foot.
        flag_length: Range of the flag's length, as a share of the digit's height.
        flag_angle: Range of the flag's angle below the horizontal, in degrees. A
            1 written wide, or stretched to fill its box, has a long shallow flag.
            Both ranges are checked with the run config (``core/validation.py``).

    Returns:
        The style (see :func:`_draw_european_ones`).
    """
    return functools.partial(
        _draw_european_ones, p=p, foot_p=foot_p, flag_length=tuple(flag_length), flag_angle=tuple(flag_angle)
    )


def _draw_european_ones(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    p: float,
    foot_p: float,
    flag_length: tuple[float, float],
    flag_angle: tuple[float, float],
) -> None:
    """Give a share ``p`` of the 1s a flag, and a share ``foot_p`` of those a foot, in place.

    The flag leaves the top of the stroke towards the lower left, ``flag_length``
    of the digit's height long, ``flag_angle`` degrees below the horizontal, on
    1s that stand upright (a leaning 1 with a flag is a 7); the foot is a
    horizontal stroke across the bottom, 40–70 % of the height wide.
    """
    for index, (rows, columns, top, bottom, height) in _chosen_digits(images, labels, 1, p, rng):
        if abs(np.polyfit(rows, columns, 1)[0]) > _MAX_SLANT:
            continue  # a leaning 1 with a flag is a 7: the style is drawn on upright ones only
        image = images[index]
        width = int(np.clip(round(0.8 * len(rows) / height), 1, 3))
        top_x = int(round(columns[rows <= top + 1].mean()))
        length, angle = rng.uniform(*flag_length) * height, math.radians(rng.uniform(*flag_angle))
        end = (int(round(top_x - length * math.cos(angle))), int(round(top + length * math.sin(angle))))
        cv2.line(image, (top_x, int(top)), end, 255, width, cv2.LINE_AA)
        if rng.random() < foot_p:
            bottom_x = int(round(columns[rows >= bottom - 1].mean()))
            half = rng.uniform(0.2, 0.35) * height
            cv2.line(image, (int(bottom_x - half), int(bottom)), (int(bottom_x + half), int(bottom)), 255, width, cv2.LINE_AA)


@STYLES.register("curled_nines")
def curled_nines(
    p: float = 0.5,
    curl_size: tuple[float, float] = (0.18, 0.3),
    curl_turn: tuple[float, float] = (150.0, 210.0),
) -> Style:
    """Give a share ``p`` of the 9s a tail that curls back to the left below the stem.

    Args:
        p: Share of the 9s that get a curl.
        curl_size: Range of the curl's half-width and depth, each a share of the digit's height.
        curl_turn: Range of how far the curl turns, in degrees from straight down the stem:
            90 ends pointing left, 180 pointing back up. The ranges are checked with the
            run config (``core/validation.py``).

    Returns:
        The style (see :func:`_draw_curled_nines`).
    """
    return functools.partial(_draw_curled_nines, p=p, curl_size=tuple(curl_size), curl_turn=tuple(curl_turn))


def _draw_curled_nines(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    p: float,
    curl_size: tuple[float, float],
    curl_turn: tuple[float, float],
) -> None:
    """Curl the stem's end of a share ``p`` of the 9s back to the left, then standardise them again, in place.

    The curl is half an ellipse and more that leaves the stem's lowest point along
    the stem's own slant (fitted on the lowest quarter of the digit), in the stem's
    stroke width. It hangs below the digit, so each curled 9 is drawn on a margin and
    standardised again, as ``predict`` would box a 9 written that way. A 9 whose lowest
    quarter is no single stroke running down (a tail that already turns, or closes into
    a bowl) is left as it is.
    """
    for index, (rows, columns, _, bottom, height) in _chosen_digits(images, labels, 9, p, rng):
        stem = rows >= bottom - height // 4
        slope = _stem_slope(rows[stem], columns[stem])
        if slope is None:
            continue
        width = int(np.clip(round(0.8 * stem.sum() / (np.ptp(rows[stem]) + 1)), 1, 3))
        end = np.array([columns[rows >= bottom - 1].mean(), bottom], np.float64) + _CANVAS_MARGIN
        half_width, depth = rng.uniform(*curl_size, size=2) * height
        turn = math.radians(rng.uniform(*curl_turn))
        angles = np.linspace(0.0, turn, 24)
        rotation = -math.atan(slope)  # the ellipse's start tangent runs down the stem
        across = np.stack([half_width * (np.cos(angles) - 1.0), depth * np.sin(angles)], axis=1)
        rotated = across @ np.array([[math.cos(rotation), math.sin(rotation)], [-math.sin(rotation), math.cos(rotation)]])
        canvas = np.pad(images[index], _CANVAS_MARGIN)
        points = np.round(end + rotated).astype(np.int32)
        cv2.polylines(canvas, [points], False, 255, width, cv2.LINE_AA)
        images[index] = standardise_batch(canvas[None], "light_on_dark")[0]


def _stem_slope(rows: np.ndarray, columns: np.ndarray) -> float | None:
    """The slope (columns per row) of the stem that ink pixels (a 9's lowest quarter) form, or None.

    They form a stem when every row but a few holds one unbroken run of ink, and the
    run drifts sideways by less than a column per row; otherwise the tail already turns
    or closes into a bowl.
    """
    if np.ptp(rows) < 2:
        return None
    single_runs = [np.ptp(cols) + 1 == len(cols) for cols in np.split(columns, np.flatnonzero(np.diff(rows)) + 1)]
    slope = float(np.polyfit(rows, columns, 1)[0])
    return slope if np.mean(single_runs) >= 0.8 and abs(slope) < _MAX_STEM_SLOPE else None


@STYLES.register("box_filled")
def box_filled(
    p: float = 0.15,
    aspect: tuple[float, float] = (0.75, 1.0),
    side: tuple[int, int] = (16, 28),
    binary_p: float = 0.5,
) -> Style:
    """Scan a share ``p`` of the digits (any class) again, stretched to fill a frame.

    Args:
        p: Share of the digits rescanned.
        aspect: Range of the frame's width over its height (1.0 is square, as Semeion's).
        side: Range of the frame's height in pixels: a coarse scan loses thin strokes.
        binary_p: Share of the rescanned digits thresholded to black and white, as Semeion's are.
            The ranges are checked with the run config (``core/validation.py``).

    Returns:
        The style (see :func:`_draw_box_filled`).
    """
    return functools.partial(_draw_box_filled, p=p, aspect=tuple(aspect), side=tuple(side), binary_p=binary_p)


def _draw_box_filled(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    p: float,
    aspect: tuple[float, float],
    side: tuple[int, int],
    binary_p: float,
) -> None:
    """Stretch a share ``p`` of the digits to fill a frame, then standardise them again, in place.

    Each chosen digit fills a frame ``side`` pixels high and ``aspect`` times as
    wide (:func:`fill_frame`), thresholded for a share ``binary_p``, and is
    standardised like any other source (on a 2-pixel black margin, since the
    frame is all ink at its edges).
    """
    for index in np.flatnonzero(rng.random(len(images)) < p):
        height = int(rng.integers(side[0], side[1] + 1))
        width = max(1, int(round(height * rng.uniform(*aspect))))
        frame = fill_frame(images[index], height, width, binary=bool(rng.random() < binary_p))
        if frame is not None:
            images[index] = standardise_batch(np.pad(frame, 2)[None], "light_on_dark")[0]


def fill_frame(image: np.ndarray, height: int, width: int, binary: bool) -> np.ndarray | None:
    """A bright-ink digit's ink box resized, width and height apart, to fill a ``height`` × ``width`` frame.

    Args:
        image: A standardised digit (bright ink on black).
        height: The frame's height in pixels.
        width: The frame's width in pixels.
        binary: Threshold the frame at half its peak to 0 and 255, as Semeion's scans are.

    Returns:
        The float32 frame, or None for an image without ink.
    """
    inked = image > INK_THRESHOLD * max(float(image.max()), 1.0)
    if not inked.any():
        return None
    rows, columns = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    crop = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].astype(np.float32)
    frame = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    return np.where(frame > frame.max() / 2, 255.0, 0.0).astype(np.float32) if binary else frame
