"""Predict the digit of image files: decode, standardise like the training data, score.

The body of the ``predict`` command without its config and output: one
:class:`Prediction` per file, in input order, each either scored or carrying
the reason it could not be, so that one bad file never stops the others.
A file with no ink (a blank or uniform image) is such a failure too: the
network would still name a digit for it, with full confidence.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from digit_experiments.dataset.standardise import check_polarity, has_ink, standardise_images
from digit_experiments.dataset.io.image_files import MAX_IMAGE_PIXELS
from digit_experiments.inference import encoded_images
from digit_experiments.inference.image_inputs import decode_files, expand_inputs

#: The error of a file that standardises to an empty canvas.
NO_INK = f"{encoded_images.NO_INK}; {encoded_images.SHOW_THE_DIGIT}"


@dataclass
class Prediction:
    """The outcome for one input file.

    Attributes:
        file: The file as found (or the input that matched nothing).
        probabilities: ``(10,)`` class probabilities; None when the file failed.
        error: Why the file could not be scored; None on success.
    """

    file: str
    probabilities: np.ndarray | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: file, digit, probability and all ten probabilities, or file and error."""
        if self.probabilities is None:
            return {"file": self.file, "error": self.error}
        digit = int(self.probabilities.argmax())
        return {
            "file": self.file,
            "digit": digit,
            "probability": round(float(self.probabilities[digit]), 6),
            "probabilities": [round(float(p), 6) for p in self.probabilities],
        }


def predict_files(
    ensemble: Any,
    inputs: str | Sequence[str],
    polarity: str = "auto",
    batch_size: int = 512,
    tta: bool = False,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> list[Prediction]:
    """Decode, standardise and score every input file.

    Args:
        ensemble: A :class:`digit_experiments.inference.loading.Ensemble`.
        inputs: Files, glob patterns or folders.
        polarity: ``auto``, ``dark_on_light`` or ``light_on_dark``.
        batch_size: Images per model call.
        tta: Average the probabilities over :data:`~digit_experiments.inference.tta.TTA_TRANSFORMS`.
        max_image_pixels: A file declaring more pixels is one error line, refused unread.

    Returns:
        One :class:`Prediction` per file in input order, then one per input that named nothing.
        A file that cannot be read, or holds no ink (:data:`NO_INK`), carries its error.

    Raises:
        ConfigError: for an unknown ``polarity``.
    """
    check_polarity(polarity)
    files, unmatched = expand_inputs(inputs)
    decoded, errors = decode_files(files, max_image_pixels)
    ok = [i for i, image in enumerate(decoded) if image is not None]
    images = standardise_images([decoded[i] for i in ok], polarity)
    inked = has_ink(images)
    for index in itertools.compress(ok, ~inked):
        errors[index] = NO_INK
    probabilities = ensemble.probabilities(images[inked], batch_size, tta)
    predictions = [Prediction(str(path), error=error) for path, error in zip(files, errors)]
    for row, index in enumerate(itertools.compress(ok, inked)):
        predictions[index].probabilities = probabilities[row]
    return predictions + [Prediction(item, error=reason) for item, reason in unmatched]
