"""What the demo page says about an image it cannot use: the reason, then a fix that fits the case."""

from __future__ import annotations

import base64

import pytest

from digit_experiments.inference.demo_server import BadRequest, DemoScorer
from helpers.hostile import png_bomb


def refusal(data: bytes, max_pixels: int) -> str:
    """The demo's 400 message for an image file (the model is never reached: the file is refused first)."""
    with pytest.raises(BadRequest) as error:
        DemoScorer(ensemble=None, max_pixels=max_pixels).standardised(base64.b64encode(data).decode())
    return str(error.value)


def test_an_image_over_the_pixel_limit_is_told_to_be_smaller_not_another_format() -> None:
    """Before: "...if the image is real.. Send a PNG, JPEG or BMP image." for a PNG."""
    message = refusal(png_bomb(40, 30), max_pixels=1000)
    assert "declares 40 x 30 pixels, over the limit of 1,000" in message
    assert message.endswith("if the image is real. Send a smaller image, of at most 1,000 pixels (width x height).")
    assert "PNG, JPEG or BMP" not in message


def test_a_file_that_is_no_image_is_still_told_which_formats_to_send() -> None:
    message = refusal(b"%PDF-1.4 a document", max_pixels=1000)
    assert message.endswith("not an image OpenCV can decode (wrong format, or truncated). Send a PNG, JPEG or BMP image.")
