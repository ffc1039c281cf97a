"""Finding and decoding the files predict is given, and the test-time augmentation views."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from digit_experiments.inference.image_inputs import decode_files, expand_inputs
from digit_experiments.inference.tta import TTA_TRANSFORMS, affine_view, tta_views


def write_images(folder: Path) -> None:
    """Three digit-like PNGs (one in a subfolder), a broken file and a 1-pixel-high image."""
    (folder / "sub").mkdir(parents=True)
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    for name in ("b2.png", "b10.png", "sub/a.png"):
        cv2.imwrite(str(folder / name), image)
    (folder / "zz_broken.png").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "thin.png"), np.full((1, 40), 255, np.uint8))


def test_folders_globs_and_files_expand_in_order_without_duplicates(tmp_path: Path) -> None:
    write_images(tmp_path)
    files, unmatched = expand_inputs([f"{tmp_path}/b*.png", str(tmp_path / "b2.png"), f"{tmp_path}/none*.png", "nowhere.png"])
    assert [f.name for f in files] == ["b2.png", "b10.png"], "natural order, b2.png once"
    assert unmatched == [(f"{tmp_path}/none*.png", "no file matches this pattern"), ("nowhere.png", "no such file or folder")]
    files, unmatched = expand_inputs(str(tmp_path / "sub"))
    assert [f.name for f in files] == ["a.png"] and unmatched == []


def test_every_file_is_decoded_or_says_why_not(tmp_path: Path) -> None:
    write_images(tmp_path)
    names = ["b2.png", "zz_broken.png", "thin.png", "sub/a.png"]
    images, errors = decode_files([tmp_path / name for name in names])
    assert [image is not None for image in images] == [True, False, False, True]
    assert images[0].shape == (28, 28) and errors[0] is None and errors[3] is None
    assert "not an image" in errors[1] and errors[2] == "image too small (40x1 px)"


def test_tta_yields_the_identity_first_then_one_view_per_transform() -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    views = list(tta_views(images))
    assert len(views) == len(TTA_TRANSFORMS) and views[0] is images
    assert all(view.shape == images.shape and view.dtype == np.uint8 for view in views)
    assert not any(np.array_equal(view, images) for view in views[1:])


def test_a_shifted_view_moves_every_pixel_by_the_shift() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    images[:, 10:18, 12:15] = 255
    right_one, down_two = affine_view(images, 0.0, 1.0, (1.0, 0.0)), affine_view(images, 0.0, 1.0, (0.0, 2.0))
    assert np.array_equal(right_one[:, :, 1:], images[:, :, :-1]) and not right_one[:, :, 0].any()
    assert np.array_equal(down_two[:, 2:], images[:, :-2]) and affine_view(images, 0.0, 1.0) is images
