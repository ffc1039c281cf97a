"""Standardisation: any digit image becomes a 28×28 MNIST-style image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.standardise import standardise_batch, standardise_images
from digit_experiments.core.errors import ConfigError

from helpers.digit_checks import assert_mnist_style, similarity


def _photo(digit: np.ndarray, size: tuple[int, int], scale: float, offset: tuple[int, int]) -> np.ndarray:
    """An MNIST digit as dark ink on grey paper, scaled and placed off-centre on a larger canvas."""
    ink = cv2.resize(digit, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    paper = np.full(size, 200.0, np.float32)
    top, left = offset
    patch = paper[top : top + ink.shape[0], left : left + ink.shape[1]]
    patch -= ink * (170.0 / 255.0)
    return paper


def test_mnist_is_nearly_a_fixed_point(mnist: SourceData) -> None:
    """MNIST is the definition of the style: standardising it again barely changes it."""
    images = mnist.test_images[:2000]
    again = standardise_batch(images, "light_on_dark")
    assert np.abs(again.astype(int) - images).mean() < 1.0
    assert (again == images).all(axis=(1, 2)).mean() > 0.5
    assert_mnist_style(again)


def test_position_size_and_polarity_do_not_matter(mnist: SourceData) -> None:
    digits = mnist.test_images[:40]
    photos = [
        _photo(digit, (110 + 7 * (i % 5), 100 + 3 * (i % 7)), 2.0 + (i % 3) * 0.5, (5 + i % 11, 3 + i % 7))
        for i, digit in enumerate(digits)
    ]
    standardised = standardise_images(photos)
    assert_mnist_style(standardised)
    assert similarity(standardised, standardise_batch(digits)).min() > 0.9
    inverted = standardise_images([255.0 - photo for photo in photos])
    np.testing.assert_array_equal(inverted, standardised)


def test_dim_photo_of_paper_is_detected_as_dark_ink() -> None:
    paper = np.full((60, 60), 90, np.uint8)
    cv2.putText(paper, "4", (12, 48), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 20, 5)
    out = standardise_images([paper])
    assert_mnist_style(out)
    assert out[0, 14].max() == 255  # the ink, not the paper, became bright


def test_forced_polarity_overrides_detection() -> None:
    canvas = np.zeros((40, 40), np.uint8)
    cv2.putText(canvas, "7", (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 4)
    auto = standardise_batch(canvas[None])
    np.testing.assert_array_equal(standardise_batch(canvas[None], "light_on_dark"), auto)
    np.testing.assert_array_equal(standardise_batch(255 - canvas[None], "dark_on_light"), auto)
    assert not np.array_equal(standardise_batch(canvas[None], "dark_on_light"), auto)


def test_blank_image_stays_blank() -> None:
    out = standardise_batch(np.full((2, 16, 16), 255, np.uint8))
    assert out.shape == (2, 28, 28) and out.max() == 0


def test_unknown_polarity_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dark_on_light"):
        standardise_batch(np.zeros((1, 28, 28), np.uint8), "inverted")


def test_digits_that_fill_their_frame_keep_their_ink_in_either_polarity(mnist: SourceData) -> None:
    """Semeion-style scans (stretched to fill a 16×16 frame) cover much of the border with ink."""
    from digit_experiments.augment.styles import fill_frame

    frames = np.stack([fill_frame(digit, 16, 16, binary=True) for digit in mnist.test_images[:300]])
    ring = np.concatenate([frames[:, 0], frames[:, -1], frames[:, 1:-1, 0], frames[:, 1:-1, -1]], axis=1)
    assert (np.median(ring, axis=1) > 127).sum() >= 3, "the sample has frames whose border is mostly ink"
    expected = standardise_batch(np.pad(frames, ((0, 0), (2, 2), (2, 2))), "light_on_dark")  # on a known black margin
    np.testing.assert_array_equal(standardise_batch(frames.copy(), "light_on_dark"), expected)
    np.testing.assert_array_equal(standardise_batch(frames.copy()), expected)
    np.testing.assert_array_equal(standardise_batch(255 - frames), expected)
    mostly_paper = np.flatnonzero((frames > 127).mean(axis=(1, 2)) < 0.45)
    alone = np.concatenate([standardise_batch(255 - frames[i : i + 1]) for i in mostly_paper])
    np.testing.assert_array_equal(alone, expected[mostly_paper], "alone, a frame's own median gives its polarity")


def test_a_speck_away_from_the_digit_does_not_shrink_it(mnist: SourceData) -> None:
    """Dust on a loosely cropped scan: the box is the digit's, so the speck changes nothing."""
    scans = np.zeros((200, 80, 80), np.uint8)
    scans[:, 2:58, 2:58] = [cv2.resize(digit, (56, 56), interpolation=cv2.INTER_LINEAR) for digit in mnist.test_images[:200]]
    speckled = scans.copy()
    speckled[:, 74:77, 74:77] = scans.max(axis=(1, 2))[:, None, None]  # as dark as the digit's ink
    np.testing.assert_array_equal(standardise_batch(speckled, "light_on_dark"), standardise_batch(scans, "light_on_dark"))


def test_strokes_of_the_digit_stay_in_its_box_however_small_or_far() -> None:
    """A detached bar near the body (a 5's flag) and a large stroke far from it are the digit's:
    the digit comes out as it does from a crop that holds all of its ink and nothing else."""
    five = np.zeros((60, 60), np.uint8)
    five[20:50, 20:26] = 255  # the body: 180 px
    five[14:17, 20:30] = 255  # a small bar (30 px, 17 %) 3 px above it: near
    eleven = np.zeros((60, 60), np.uint8)
    eleven[10:50, 5:10] = 255
    eleven[10:50, 50:54] = 255  # 80 % of the first stroke, 40 px away: large
    for image, (top, bottom, left, right) in ((five, (14, 50, 20, 30)), (eleven, (10, 50, 5, 54))):
        whole_digit = np.pad(image[top:bottom, left:right], 2)
        np.testing.assert_array_equal(standardise_batch(image[None], "light_on_dark"),
                                      standardise_batch(whole_digit[None], "light_on_dark"))


def _lit_page(digit: np.ndarray, fall: float, angle: float) -> np.ndarray:
    """An MNIST digit as dark ink on a 56×56 page whose light falls by ``fall`` grey levels across it, in direction ``angle``."""
    reflectance = np.ones((56, 56), np.float32)
    reflectance[14:42, 14:42] -= 0.8 * digit / 255.0
    rows, columns = np.mgrid[0:56, 0:56] / 55.0 - 0.5
    light = 220.0 - fall * (0.5 + np.cos(angle) * columns + np.sin(angle) * rows)
    return np.clip(light * reflectance, 0, 255).astype(np.uint8)


def test_a_shadow_across_the_page_is_not_taken_for_ink(mnist: SourceData) -> None:
    """A photo whose paper darkens from 220 to 100 across the page reads as the evenly lit one does."""
    digits = mnist.test_images[:100]
    angles = np.linspace(0, 2 * np.pi, len(digits), endpoint=False)
    evenly_lit = standardise_images([_lit_page(digit, 0.0, angle) for digit, angle in zip(digits, angles)])
    shaded = standardise_images([_lit_page(digit, 120.0, angle) for digit, angle in zip(digits, angles)])
    assert_mnist_style(shaded)
    assert similarity(shaded, evenly_lit).min() > 0.9


def test_a_digit_that_fills_its_frame_is_not_taken_for_a_shadow(mnist: SourceData) -> None:
    """Ink across the border ring fits no plane of light on every side, so frame-filled scans are left as they were."""
    from digit_experiments.augment.styles import fill_frame
    from digit_experiments.dataset.standardise.paper import even_out_lighting

    frames = np.stack([255 - fill_frame(digit, 16, 16, binary=False) for digit in mnist.test_images])
    evened = frames.astype(np.float32)
    even_out_lighting(evened)
    np.testing.assert_array_equal(evened, frames.astype(np.float32))


def test_sensor_noise_around_the_digit_does_not_grow_its_box(mnist: SourceData) -> None:
    """Grains of noise near the digit, each a pixel or two, must not join one by one until the box is the page.

    Noise this strong (20 grey levels) also breaks some thin digits into grains; those still lose their box."""
    digits = mnist.test_images[:100]
    rng = np.random.default_rng(0)
    clean = np.full((len(digits), 56, 56), 220.0, np.float32)
    clean[:, 14:42, 14:42] -= 0.8 * 220.0 * digits / 255.0
    noisy = np.clip(clean + rng.normal(0.0, 20.0, clean.shape), 0, 255)
    assert (similarity(standardise_batch(noisy), standardise_batch(clean)) > 0.8).mean() >= 0.85  # 0.04 when grains joined


def _form_page(digit: np.ndarray, lines: str, at: int = 40) -> np.ndarray:
    """An MNIST digit as dark ink on a 56×56 page with a form's lines: a rule across row ``at``
    (lines="ruled"), a cell's four sides ``at`` px inside the edges (lines="cell"), or none."""
    ink = np.zeros((56, 56), np.float32)
    ink[14:42, 14:42] = digit / 255.0
    if lines == "ruled":
        ink[at] = np.maximum(ink[at], 0.7)
    elif lines == "cell":
        for side in (at, 55 - at):
            ink[side] = ink[:, side] = 0.7
    return np.clip(220.0 * (1.0 - 0.8 * ink), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("inset", [2, 0], ids=["inside the edges", "on the edges"])
def test_a_form_cell_around_the_digit_is_erased(mnist: SourceData, inset: int) -> None:
    """A digit cut out of a form with its cell's lines reads as the digit alone (the whole page before).
    Cut along the lines, the border is all line: the paper's level is still the page's median."""
    digits = mnist.test_images[:100]
    alone = standardise_images([_form_page(digit, "none") for digit in digits])
    in_a_cell = standardise_images([_form_page(digit, "cell", at=inset) for digit in digits])
    assert similarity(in_a_cell, alone).min() > 0.95


def test_a_ruled_line_through_or_under_the_digit_is_erased(mnist: SourceData) -> None:
    """A line across the page, through the digit's lower half or just below it, is erased where it is
    not the digit's: strokes that cross it keep their crossing, strokes that sit on it stay."""
    digits = mnist.test_images[:100]
    alone = standardise_images([_form_page(digit, "none") for digit in digits])
    on_lines = standardise_images([_form_page(digit, "ruled", at=28 + i % 16) for i, digit in enumerate(digits)])
    assert_mnist_style(on_lines)
    assert (similarity(on_lines, alone) > 0.8).mean() >= 0.85  # 0.0 when the line was taken for the digit


def test_a_dashed_or_dotted_line_is_erased(mnist: SourceData) -> None:
    """A form's guide line of dashes (4 px, gaps of 3) or dots (2 px, gaps of 2) under or through the digit."""
    digits = mnist.test_images[:100]
    alone = standardise_images([_form_page(digit, "none") for digit in digits])
    for dash, gap in ((4, 3), (2, 2)):
        pages = []
        for i, digit in enumerate(digits):
            page = _form_page(digit, "none")
            dashes = np.arange(56) % (dash + gap) < dash
            page[28 + i % 16, dashes] = 220.0 * (1.0 - 0.8 * 0.7)
            pages.append(page)
        assert (similarity(standardise_images(pages), alone) > 0.8).mean() >= 0.85, (dash, gap)  # 0.11 and 0.78 before


def test_a_ruled_line_askew_is_erased_at_any_size(mnist: SourceData) -> None:
    """A page scanned 2° askew: its line drifts by 2 px across 56 px, by 8 across 224, however thin."""
    digits = mnist.test_images[:50]
    for scale, thickness in ((1, 1), (4, 4), (4, 1)):
        size = 56 * scale
        alone, askew = [], []
        for i, digit in enumerate(digits):
            ink = np.zeros((size, size), np.float32)
            ink[14 * scale : 42 * scale, 14 * scale : 42 * scale] = cv2.resize(digit, (28 * scale, 28 * scale)) / 255.0
            alone.append(np.clip(220.0 * (1.0 - 0.8 * ink), 0, 255).astype(np.uint8))
            line = np.zeros((size, size), np.uint8)
            at = (28 + i % 12) * scale
            cv2.line(line, (0, at), (size - 1, at + round(np.tan(np.radians(2.0)) * (size - 1))), 255, thickness)
            askew.append(np.clip(220.0 * (1.0 - 0.8 * np.maximum(ink, 0.7 * (line > 0))), 0, 255).astype(np.uint8))
        assert (similarity(standardise_images(askew), standardise_images(alone)) > 0.8).mean() >= 0.85, (scale, thickness)


def test_a_stroke_from_edge_to_edge_of_the_digit_is_no_ruled_line(mnist: SourceData) -> None:
    """The digit's own long strokes stay: a bar as wide as the digit leaves it no margin, a tight crop's
    stem is thicker than a line, and images too small to hold more than the digit are never searched."""
    seven = np.zeros((60, 60), np.uint8)
    seven[2:5, 1:59] = 255  # a 7's bar, thin and as wide as the crop, but no margin past the stem
    cv2.line(seven, (56, 4), (25, 58), 255, 3)
    four = np.zeros((40, 40), np.uint8)
    four[:, 24:30] = 255  # a tight crop's stem, edge to edge, 6 px thick
    four[4:24, 6:10] = 255
    four[22:26, 6:34] = 255
    for image in (seven, four):
        padded = np.pad(image, 10)  # the same digit with room around it: nothing runs edge to edge
        np.testing.assert_array_equal(standardise_batch(image[None], "light_on_dark"), standardise_batch(padded[None], "light_on_dark"))
    from digit_experiments.augment.styles import fill_frame
    from digit_experiments.dataset.standardise.ruled_lines import erase_rules

    frames = np.stack([fill_frame(digit, 16, 16, binary=True) for digit in mnist.test_images])  # thin strokes, edge to edge
    assert not erase_rules(frames.astype(np.float32), frames > 0).any()


def _string_crop(digit: np.ndarray, neighbour: np.ndarray | None, gap: int = 3) -> np.ndarray:
    """An MNIST digit cropped from a string of digits: the near 30 % of ``neighbour`` cut by the crop's
    left edge, ``gap`` px before the digit, on paper."""
    columns = np.flatnonzero(digit.any(axis=0))
    digit = digit[:, columns[0] : columns[-1] + 1]
    piece = np.zeros((28, 0), np.uint8)
    if neighbour is not None:
        columns = np.flatnonzero(neighbour.any(axis=0))
        piece = neighbour[:, columns[-1] + 1 - max(2, round(0.3 * (columns[-1] + 1 - columns[0]))) : columns[-1] + 1]
    ink = np.zeros((36, piece.shape[1] + gap + digit.shape[1] + 4), np.float32)
    ink[4:32, : piece.shape[1]] = piece / 255.0
    ink[4:32, piece.shape[1] + gap : piece.shape[1] + gap + digit.shape[1]] = digit / 255.0
    return np.clip(220.0 * (1.0 - 0.8 * ink), 0, 255).astype(np.uint8)


def test_a_neighbours_stroke_cut_by_the_crop_is_left_out(mnist: SourceData) -> None:
    """A digit cut from a string keeps a slice of its neighbour at the crop's edge: the box is the digit's."""
    digits = mnist.test_images[:100]
    alone = standardise_images([_string_crop(digit, None) for digit in digits])
    with_neighbour = standardise_images([_string_crop(digit, digits[(i + 1) % 100]) for i, digit in enumerate(digits)])
    assert (similarity(with_neighbour, alone) > 0.95).mean() >= 0.95  # 0.19 when the slice widened the box


def test_a_tight_crops_own_stroke_at_its_edge_stays() -> None:
    """A digit that reaches one side edge of its crop owns the detached stroke at the other: a broken 4's arm."""
    four = np.zeros((40, 40), np.uint8)
    four[2:24, 0:4] = 255  # the arm, detached, on the left edge
    four[24:28, 6:40] = 255  # the bar and stem, out to the right edge
    four[0:40, 26:30] = 255
    np.testing.assert_array_equal(standardise_batch(four[None], "light_on_dark"),
                                  standardise_batch(np.pad(four, 10)[None], "light_on_dark"))
