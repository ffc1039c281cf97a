"""The user's own folder of digits: any format, size, colour and polarity; bad files named, skipped or fatal."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_experiments.dataset import load_dataset
from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.sources.folder import load_folder
from digit_experiments.dataset.standardise import standardise_batch
from digit_experiments.core.errors import DataError

from helpers.digit_checks import assert_mnist_style, similarity

FORMATS = (".png", ".jpg", ".bmp", ".gif", ".tiff", ".webp")
PER_DIGIT = 6


def _variant(digit: np.ndarray, index: int) -> np.ndarray:
    """An MNIST digit re-drawn as a user might have it: bigger, off-centre, coloured, either polarity."""
    scale = 2 + index % 3
    ink = cv2.resize(digit, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    canvas = np.zeros((ink.shape[0] + 20, ink.shape[1] + 30), np.float32)
    canvas[4 + index % 5 : 4 + index % 5 + ink.shape[0], 7 + index : 7 + index + ink.shape[1]] = ink
    if index % 2:  # blue ink on yellowish paper
        paper, pen = np.array([170, 235, 245], np.float32), np.array([160, 40, 20], np.float32)
    else:  # white chalk on a dark green board
        paper, pen = np.array([40, 70, 30], np.float32), np.array([235, 240, 235], np.float32)
    return np.rint(paper + canvas[..., None] * (pen - paper)).astype(np.uint8)


def _transparent(digit: np.ndarray) -> np.ndarray:
    """Black ink on a fully transparent canvas (BGRA), as drawing apps export it."""
    big = cv2.resize(digit, (56, 56), interpolation=cv2.INTER_LINEAR)
    bgra = np.zeros((64, 64, 4), np.uint8)
    bgra[4:60, 4:60, 3] = big
    return bgra


def _write_digits(root: Path, mnist: SourceData) -> np.ndarray:
    """6 images per digit in varied formats and looks; returns the source MNIST digits, by class then file."""
    originals = []
    for label in range(10):
        digits = mnist.test_images[mnist.test_labels == label][:PER_DIGIT]
        for index, digit in enumerate(digits):
            folder = root / str(label) / ("scans" if index == 5 else "")
            folder.mkdir(parents=True, exist_ok=True)
            image = _transparent(digit) if index == 4 else _variant(digit, index + label)
            suffix = ".png" if index == 4 else FORMATS[(index + label) % len(FORMATS)]
            cv2.imwrite(str(folder / f"{index}{suffix}"), image)
            originals.append(digit)
    (root / "7" / ".DS_Store").write_bytes(b"\0\1")
    return np.stack(originals)


@pytest.fixture
def digits_folder(mnist: SourceData, tmp_path: Path) -> tuple[Path, np.ndarray]:
    root = tmp_path / "my_digits"
    return root, _write_digits(root, mnist)


def test_any_format_size_colour_and_polarity(digits_folder: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, originals = digits_folder
    source = load_folder(tmp_path, "my_digits")
    assert len(source.train_labels) == 50 and len(source.test_labels) == 10
    assert np.bincount(source.test_labels).tolist() == [1] * 10
    assert "dataset.folder.skipped_inputs" not in source.notes  # .DS_Store is ignored, not a bad input
    images = np.concatenate([source.train_images, source.test_images])
    labels = np.concatenate([source.train_labels, source.test_labels])
    assert_mnist_style(images)
    expected = standardise_batch(originals)
    for image, label in zip(images, labels):
        candidates = expected[label * PER_DIGIT : (label + 1) * PER_DIGIT]
        assert similarity(np.repeat(image[None], PER_DIGIT, axis=0), candidates).max() > 0.9


def test_train_and_test_subfolders_are_used_as_given(mnist: SourceData, tmp_path: Path) -> None:
    _write_digits(tmp_path / "split" / "train", mnist)
    for label in (2, 5):
        folder = tmp_path / "split" / "test" / str(label)
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / "a.png"), 255 - mnist.test_images[mnist.test_labels == label][10])
    source = load_folder(tmp_path, str(tmp_path / "split"))
    assert len(source.train_labels) == 60 and source.test_labels.tolist() == [2, 5]


def test_forced_polarity_is_applied(mnist: SourceData, tmp_path: Path) -> None:
    for label in range(10):
        (tmp_path / str(label)).mkdir()
        cv2.imwrite(str(tmp_path / str(label) / "a.png"), 255 - mnist.test_images[label])
    auto = load_folder(tmp_path, ".")
    forced = load_folder(tmp_path, ".", polarity="dark_on_light")
    np.testing.assert_array_equal(forced.train_images, auto.train_images)
    with pytest.raises(DataError, match="no ink found"):  # read as bright ink, the white paper is all "ink"
        load_folder(tmp_path, ".", polarity="light_on_dark", on_error="raise")


#: case: (file written, the path the message names, content, reason given)
BAD_INPUTS = {
    "non-image file": ("3/notes.txt", "3/notes.txt", b"these are my digits", "not an image OpenCV can decode"),
    "zero-byte image": ("4/empty.png", "4/empty.png", b"", "the file is empty (0 bytes)"),
    "truncated image": ("5/broken.png", "5/broken.png", None, "not an image OpenCV can decode"),
    "blank image": ("6/blank.png", "6/blank.png", "blank", "no ink found"),
    "label outside 0-9": ("11/a.png", "11", "digit", "folder name '11' is not a digit label 0-9"),
    "file outside the class folders": ("stray.png", "stray.png", "digit", "lies outside the class folders"),
}


def _add_bad_input(root: Path, relative: str, content: bytes | str | None, digit: np.ndarray) -> Path:
    """Write one bad input into the folder."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "blank":
        cv2.imwrite(str(path), np.full((40, 40), 255, np.uint8))
    elif content == "digit":
        cv2.imwrite(str(path), digit)
    elif content is None:
        ok, encoded = cv2.imencode(".png", digit)
        path.write_bytes(encoded.tobytes()[:60])
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_stops_with_its_name(case: str, digits_folder: tuple[Path, np.ndarray], mnist: SourceData) -> None:
    root, _ = digits_folder
    relative, named, content, reason = BAD_INPUTS[case]
    _add_bad_input(root, relative, content, mnist.test_images[0])
    with pytest.raises(DataError) as raised:
        load_folder(root, ".", on_error="raise")
    assert f"{root / named}: {reason}" in str(raised.value) and "on_error=skip" in str(raised.value)


def test_bad_inputs_are_skipped_with_a_counted_warning(
    digits_folder: tuple[Path, np.ndarray], mnist: SourceData, caplog: pytest.LogCaptureFixture
) -> None:
    root, _ = digits_folder
    for relative, _, content, _ in BAD_INPUTS.values():
        _add_bad_input(root, relative, content, mnist.test_images[0])
    with caplog.at_level(logging.WARNING):
        source = load_folder(root, ".")
    assert len(source.train_labels) + len(source.test_labels) == 10 * PER_DIGIT
    assert source.notes["dataset.folder.skipped_inputs"] == str(len(BAD_INPUTS))
    assert f"skipped {len(BAD_INPUTS)} bad input(s)" in caplog.text
    for _, named, _, reason in BAD_INPUTS.values():
        assert f"{root / named}: {reason}" in source.notes["dataset.folder.skipped_examples"]


def test_cache_is_reused_and_invalidated_by_an_edit(digits_folder: tuple[Path, np.ndarray]) -> None:
    root, _ = digits_folder
    first = load_folder(root, ".")
    assert load_folder(root, ".").notes["dataset.cache.folder"].startswith("hit")
    image = cv2.imread(str(root / "0" / "4.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(root / "0" / "4.png"), np.ascontiguousarray(image[:, ::-1]))  # mirror one digit
    edited = load_folder(root, ".")
    assert edited.notes["dataset.cache.folder"].startswith("miss")
    assert not np.array_equal(
        np.concatenate([edited.train_images, edited.test_images]),
        np.concatenate([first.train_images, first.test_images]),
    )


def test_a_digit_without_images_is_warned_about_and_tagged(
    digits_folder: tuple[Path, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    """A folder without 6s loaded without a word; a model trained on it never predicts 6."""
    root, _ = digits_folder
    for path in (root / "6").rglob("*"):
        if path.is_file():
            path.unlink()
    with caplog.at_level(logging.WARNING):
        loaded = load_folder(root, ".")
    assert loaded.notes["folder.digits_without_images"] == "6"
    assert "no usable image of digit(s) 6" in caplog.text
    assert 6 not in loaded.train_labels and 7 in loaded.train_labels


def test_missing_folder_and_missing_class_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Digit folder not found"):
        load_folder(tmp_path, "nowhere")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat").mkdir()
    with pytest.raises(DataError, match="has no class folders 0/"):
        load_folder(tmp_path, "photos")


def test_a_folder_too_small_for_a_stratified_split_is_split_at_random(
    mnist: SourceData, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for index, label in enumerate(mnist.test_labels[:40]):  # 40 images, 4 of them for validation: fewer than the digits
        folder = tmp_path / "few" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{index}.png"), mnist.test_images[index])
    with caplog.at_level(logging.WARNING):
        splits = load_dataset({"folder": {"path": str(tmp_path / "few")}}, tmp_path, seed=0)
    assert len(splits.val_labels) == 4 and len(splits.train_labels) + len(splits.val_labels) + len(splits.tests["folder"][1]) == 40
    assert "drawn at random, not stratified" in caplog.text


def _write_mnist_digits(root: Path, mnist: SourceData, count: int) -> None:
    """The first ``count`` MNIST test digits as PNG files in class folders below ``root``."""
    for index, label in enumerate(mnist.test_labels[:count]):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{index}.png"), mnist.test_images[index])


def test_a_folder_too_small_to_hold_out_a_test_set_is_refused_before_training(mnist: SourceData, tmp_path: Path) -> None:
    _write_mnist_digits(tmp_path / "tiny", mnist, 12)  # about one of each digit: 10 % of one rounds to none
    with pytest.raises(DataError, match="`folder` has no test images.*`test_fraction`"):
        load_dataset({"folder": {"path": str(tmp_path / "tiny")}}, tmp_path, seed=0)


def test_a_pool_too_small_to_split_off_validation_is_refused(mnist: SourceData, tmp_path: Path) -> None:
    _write_mnist_digits(tmp_path / "split" / "train", mnist, 1)
    _write_mnist_digits(tmp_path / "split" / "test", mnist, 5)
    with pytest.raises(DataError, match="1 image\\(s\\): too few to hold out 10% for validation"):
        load_dataset({"folder": {"path": str(tmp_path / "split")}}, tmp_path, seed=0)


def test_a_train_folder_without_its_test_half_is_named(mnist: SourceData, tmp_path: Path) -> None:
    _write_mnist_digits(tmp_path / "half" / "train", mnist, 30)
    with pytest.raises(DataError, match="has a train/ folder but no test/ beside it"):
        load_folder(tmp_path, "half")
