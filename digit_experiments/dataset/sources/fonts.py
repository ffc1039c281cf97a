"""Digits rendered from the TrueType fonts that ship with matplotlib: shapes MNIST's writers rarely used.

MNIST-trained models misread flat-topped 5s (as 3), 1s with a flag and a foot
(as 7 or 4), and digits stretched to fill their box. Printed faces carry all of
these (DejaVu's 1 has a flag and a foot, most faces' 5 a flat top), and
matplotlib, a dependency, ships 21 faces that draw all ten digits: DejaVu Sans,
Sans Mono and Serif, STIX and Computer Modern, in regular, bold and slanted
cuts. No other source of other writing styles can be had here (EMNIST cannot be
downloaded), so this one is rendered rather than read.

Each digit of each face is drawn ``renders`` times with a seeded variation of
what a pen and a scanner change: size, stroke width (PIL's ``stroke_width``),
width stretch (×0.6–1.4), slant (shear ±0.3) and a small rotation, then goes
through the same standardisation as every non-MNIST source. Printed digits are
not handwriting: mix this source into a handwritten one (``dataset=mix``
with ``sources.fonts``) rather than training on it alone. The faces named in
``test_fonts`` are rendered for the test split only, so that split scores
faces the model never saw. No library draws digit glyphs with these
variations, hence this loader; the drawing itself is PIL's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digit_experiments.core.errors import ConfigError
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.standardise import standardise_batch

#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
#: matplotlib's faces that draw ten distinct lining digits (cmmi10's are old-style figures;
#: the symbol, display and fallback faces have none or a subset).
FACES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmti10.ttf",
)
#: Faces kept for the test split by default: one sans and one serif, each with family members in training.
TEST_FACES = ("cmss10.ttf", "DejaVuSerif-Italic.ttf")
_CANVAS = 96
_SEED = 20_261_204


@SOURCES.register("fonts")
def load_fonts(data_dir: Path, renders: int = 60, test_fonts: Sequence[str] = TEST_FACES) -> SourceData:
    """Render every digit of matplotlib's faces ``renders`` times, standardised to MNIST style.

    Args:
        data_dir: Unused: the faces ship with matplotlib (every source takes it).
        renders: Drawings of each digit per face, each with its own variation.
        test_fonts: Faces (file names from :data:`FACES`) drawn for the test split only.

    Returns:
        The source named ``"fonts"``: 19 × 10 × ``renders`` train and 2 × 10 × ``renders``
        test images by default (11,400 and 1,200).
    """
    test_fonts = tuple(test_fonts)
    _check_options(renders, test_fonts)
    checksums = {f"matplotlib {matplotlib.__version__}/{face}": sha256_file(FONT_DIR / face) for face in FACES}
    settings = {"version": VERSION, "renders": renders, "test_fonts": sorted(test_fonts)}
    return load_standardised("fonts", checksums, settings, lambda: _build(renders, test_fonts))


def _check_options(renders: int, test_fonts: tuple[str, ...]) -> None:
    """Refuse a render count below 1, a test face that is not one of :data:`FACES`, or none or all of them as test faces."""
    if not isinstance(renders, int) or isinstance(renders, bool) or renders < 1:
        raise ConfigError(
            f"`dataset.sources.fonts.renders` is {renders!r}, but it must be an integer >= 1: how many "
            "drawings of each digit every face contributes, e.g. `dataset.sources.fonts.renders=60`."
        )
    unknown = sorted(set(test_fonts) - set(FACES))
    if unknown or not test_fonts or len(set(test_fonts)) == len(FACES):
        raise ConfigError(
            f"`dataset.sources.fonts.test_fonts` is {list(test_fonts)!r}, but it must name some, not all, of "
            f"matplotlib's faces: {', '.join(FACES)}."
        )


def _build(renders: int, test_fonts: tuple[str, ...]) -> SourceData:
    """Draw every face's digits with their variations and split them by face."""
    rng = np.random.default_rng(_SEED)
    images, labels, is_test = [], [], []
    for face in FACES:
        for digit in range(10):
            for _ in range(renders):
                images.append(draw_digit(FONT_DIR / face, digit, rng))
                labels.append(digit)
                is_test.append(face in test_fonts)
    standardised = standardise_batch(np.stack(images), "light_on_dark")
    labels_array, test = np.array(labels, np.int64), np.array(is_test)
    return SourceData(
        "fonts", standardised[~test], labels_array[~test], standardised[test], labels_array[test],
        notes={"dataset.fonts.test_faces": ", ".join(sorted(test_fonts))},
    )


def draw_digit(face: Path, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One drawing of ``digit`` in ``face``: white ink on black, varied by ``rng``.

    Returns:
        ``(96, 96)`` uint8.
    """
    size = int(rng.integers(44, 64))
    font = ImageFont.truetype(str(face), size)
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    stroke = int(rng.integers(0, 4)) * size // 48
    ImageDraw.Draw(canvas).text(
        (_CANVAS / 2, _CANVAS / 2), str(digit), fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255
    )
    return cv2.warpAffine(np.asarray(canvas), _variation(rng), (_CANVAS, _CANVAS), flags=cv2.INTER_LINEAR)


def _variation(rng: np.random.Generator) -> np.ndarray:
    """A 2×3 affine matrix about the canvas centre: width stretch ×0.6–1.4, shear ±0.3, rotation ±8°."""
    stretch, shear, angle = rng.uniform(0.6, 1.4), rng.uniform(-0.3, 0.3), np.deg2rad(rng.uniform(-8, 8))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.array([[stretch, shear], [0.0, 1.0]])
    centre = np.full(2, _CANVAS / 2)
    return np.hstack([linear, (centre - linear @ centre)[:, None]])
