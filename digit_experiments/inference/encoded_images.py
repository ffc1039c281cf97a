"""Image files sent as bytes or base64 text, standardised exactly as training data is.

The served model (:mod:`digit_experiments.inference.serving`) and the demo page
(:mod:`digit_experiments.demo`) receive whole image files (a photo, a scan, a
canvas drawing) rather than 28×28 tensors. Both go through these functions,
which decode with :func:`~digit_experiments.dataset.io.image_files.decode_gray`
(the ``predict`` command's decoder) and standardise with
:func:`~digit_experiments.dataset.standardise.standardise_images` (the
training data's), so a file scores the same through every door.
"""

from __future__ import annotations

import base64
import binascii
from typing import Sequence

import cv2
import numpy as np

from digit_experiments.dataset.io.image_files import MAX_IMAGE_PIXELS, ImageTooLarge, decode_gray
from digit_experiments.dataset.standardise import has_ink, standardise_images

#: ``data:image/png;base64,`` and the like, as a browser's ``toDataURL`` writes it.
_DATA_URL_MARK = ";base64,"
#: What to do about a file that cannot be decoded.
SEND_AN_IMAGE = "Send a PNG, JPEG or BMP image"
#: Why a file that standardises to an empty canvas is refused (``predict`` reports it per file too).
NO_INK = "holds no digit: no ink found (a blank or uniform image)"
#: What to do about such a file.
SHOW_THE_DIGIT = "check that the file shows the digit, or crop the photo to it"


class UnusableImage(ValueError):
    """One of several image files cannot be decoded or used; says which and why.

    Attributes:
        index: The file's position in the list given.
        reason: What is wrong with it (from the decoder, or :data:`NO_INK`).
        fix: What the sender can do about it, a sentence without its full stop.
    """

    def __init__(self, index: int, reason: str, fix: str = SEND_AN_IMAGE) -> None:
        super().__init__(f"image {index}: {reason}")
        self.index = index
        self.reason = reason
        self.fix = fix


def png_base64(image: np.ndarray) -> str:
    """A uint8 greyscale image as a PNG file in base64 text."""
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode("ascii")


def decode_base64(text: str) -> bytes:
    """The bytes of a base64 string (plain, URL-safe, or a ``data:`` URL).

    Raises:
        ValueError: when ``text`` is not a string of valid base64.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a base64 string (got {type(text).__name__})")
    if text.startswith("data:") and _DATA_URL_MARK in text:
        text = text.split(_DATA_URL_MARK, 1)[1]
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64 (it has characters outside A-Z a-z 0-9 + / = or a wrong length)") from None


def standardise_files(
    files: Sequence[bytes], polarity: str = "auto", max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode image files and standardise them to MNIST style, as the training data was.

    Args:
        files: The files' bytes (PNG, JPEG, BMP, ...; any size, colour or polarity).
        polarity: ``auto``, ``dark_on_light`` or ``light_on_dark``.
        max_pixels: A file declaring more pixels is refused from its header, unread.

    Returns:
        ``(n, 28, 28)`` uint8, light ink on black.

    Raises:
        UnusableImage: for the first file that is not a usable image (a ValueError),
            or that holds no ink: a blank canvas has no digit, and the network would
            still name one with confidence.
    """
    decoded = []
    for index, data in enumerate(files):
        try:
            image = decode_gray(data, max_pixels)
        except ImageTooLarge as error:  # a real format, only too large: the fix is a smaller image, not another format
            fix = f"Send a smaller image, of at most {max_pixels:,} pixels (width x height)"
            raise UnusableImage(index, _clause(error), fix) from None
        except ValueError as error:
            raise UnusableImage(index, _clause(error)) from None
        if min(image.shape) < 2:
            raise UnusableImage(index, f"too small ({image.shape[1]}x{image.shape[0]} px)")
        decoded.append(image)
    images = standardise_images(decoded, polarity)
    blank = np.flatnonzero(~has_ink(images))
    if len(blank):
        raise UnusableImage(int(blank[0]), f"it {NO_INK}", SHOW_THE_DIGIT.capitalize())
    return images


def _clause(error: ValueError) -> str:
    """The decoder's reason without its closing full stop: :class:`UnusableImage` readers add their own before the fix."""
    return str(error).rstrip(". ")
