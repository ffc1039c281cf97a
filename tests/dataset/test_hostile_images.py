"""Hostile image files: each is refused with a reason, and never takes the other files down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_experiments.dataset.io.image_files import decode_gray
from digit_experiments.dataset.sources.folder import load_folder
from digit_experiments.inference.image_inputs import decode_files

from helpers.hostile import digit_png, png_bomb


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (png_bomb(), "over the limit"),
        (b"", "empty"),
        (digit_png()[:60], "decode"),
        (b"label,pixel0\n1,0\n", "decode"),
        (b"GIF89a" + b"\xff" * 30, "decode"),
    ],
    ids=["bomb", "empty", "truncated", "text", "broken-gif"],
)
def test_hostile_bytes_are_a_value_error_naming_why(content: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_gray(content)


def test_the_pixel_limit_is_configurable() -> None:
    with pytest.raises(ValueError, match="over the limit of 100"):
        decode_gray(digit_png(), max_pixels=100)
    assert decode_gray(digit_png(), max_pixels=28 * 28).shape == (28, 28)


def test_a_multi_frame_file_is_read_as_its_first_frame(tmp_path: Path) -> None:
    first = Image.fromarray(np.full((20, 20), 255, np.uint8))
    second = Image.fromarray(np.zeros((20, 20), np.uint8))
    first.save(tmp_path / "two.gif", save_all=True, append_images=[second])
    assert decode_gray((tmp_path / "two.gif").read_bytes()).mean() > 200


def test_a_bomb_among_good_files_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_bomb())
    (tmp_path / "empty.png").write_bytes(b"")
    for i in range(3):
        (tmp_path / f"good{i}.png").write_bytes(digit_png())
    files = sorted(tmp_path.iterdir())
    images, errors = decode_files(files)
    by_name = {path.name: (image, error) for path, image, error in zip(files, images, errors)}
    assert "over the limit" in by_name["bomb.png"][1] and "empty" in by_name["empty.png"][1]
    assert all(by_name[f"good{i}.png"][0] is not None for i in range(3))


def test_the_folder_source_counts_a_bomb_as_a_bad_input(tmp_path: Path) -> None:
    for digit in range(10):
        folder = tmp_path / "digits" / str(digit)
        folder.mkdir(parents=True)
        for i in range(3):
            (folder / f"{i}.png").write_bytes(digit_png())
    (tmp_path / "digits" / "7" / "bomb.png").write_bytes(png_bomb())
    source = load_folder(tmp_path, "digits", on_error="skip", test_fraction=0.34)
    assert len(source.train_labels) + len(source.test_labels) == 30
    assert "bomb.png" in str(source.notes)
