"""The user's own digits: a folder of class subfolders ``0/`` … ``9/`` holding images.

Images may have any size, format, colour and polarity; each is decoded,
turned to greyscale and standardised to MNIST style, its polarity detected
per image unless forced. Two layouts are accepted::

    my_digits/0/*.png … my_digits/9/*.png                 (a fixed 10 % is held out for testing)
    my_digits/train/0/… my_digits/test/0/…                (your own test split)

Files anywhere below a class folder belong to that class. Hidden files are
ignored. A file that is not a decodable image, an empty or blank image, a
folder whose name is not a digit, or a file outside the class folders is a bad
input: named, then skipped with a counted warning or fatal (``on_error``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from digit_experiments.dataset.io.bad_input import BadInputs, check_on_error
from digit_experiments.dataset.sources.base import SOURCES, SourceData, digits_without_images
from digit_experiments.dataset.holdout import holdout_mask
from digit_experiments.dataset.io.image_files import (
    MAX_IMAGE_PIXELS,
    ImageFiles,
    list_images,
    natural_key,
    read_labelled_images,
    tree_sha256,
)
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.dataset.standardise import check_polarity
from digit_experiments.core.errors import DataError, DataMissing

log = logging.getLogger(__name__)

#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 2
_LABELS = [str(digit) for digit in range(10)]


@SOURCES.register("folder")
def load_folder(
    data_dir: Path,
    path: str,
    polarity: str = "auto",
    on_error: str = "skip",
    test_fraction: float = 0.1,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> SourceData:
    """Load a folder of labelled digit images, standardised to MNIST style.

    Args:
        data_dir: Root data directory; a relative ``path`` starts there.
        path: The folder holding ``0/`` … ``9/`` (or ``train/`` and ``test/``).
        polarity: ``"auto"`` (detected per image), ``"dark_on_light"``
            (dark ink on paper) or ``"light_on_dark"`` (bright ink on black).
        on_error: ``"skip"`` bad inputs with a counted warning, or ``"raise"``.
        test_fraction: Share of each class held out for testing when the
            folder has no ``train/``/``test/`` split.
        max_image_pixels: A file declaring more pixels is a bad input, refused unread.

    Returns:
        The source named ``"folder"``.
    """
    check_polarity(polarity)
    check_on_error(on_error)
    root = (data_dir / Path(path).expanduser()).resolve()
    if not root.is_dir():
        raise DataMissing(
            f"Digit folder not found: {root}. Set `dataset.sources.folder.path` to a folder with subfolders "
            "0/ ... 9/ of images (relative paths start at the data directory)."
        )
    checksums = {f"folder/{root.name}": tree_sha256(root, list_images(root))}
    settings = {"version": VERSION, "polarity": polarity, "on_error": on_error, "test_fraction": test_fraction,
                "max_image_pixels": max_image_pixels}
    return load_standardised(
        "folder", checksums, settings, lambda: _build(root, polarity, on_error, test_fraction, max_image_pixels)
    )


def _build(root: Path, polarity: str, on_error: str, test_fraction: float, max_pixels: int) -> SourceData:
    """Decode the folder (or its train/ and test/ halves), holding out a test set if needed."""
    bad = BadInputs("folder", on_error)
    halves = [name for name in ("train", "test") if (root / name).is_dir()]
    if len(halves) == 1:
        other = "test" if halves == ["train"] else "train"
        raise DataError(
            f"{root} has a {halves[0]}/ folder but no {other}/ beside it. Use both, each with subfolders 0/ ... 9/ "
            f"(your own test split), or neither: 0/ ... 9/ directly in {root.name}/, of which a fixed "
            f"`test_fraction` ({test_fraction:g}) is held out for testing."
        )
    if halves:
        images, labels = read_labelled_images(_class_files(root / "train", bad), polarity, bad, max_pixels)
        test_images, test_labels = read_labelled_images(_class_files(root / "test", bad), polarity, bad, max_pixels)
    else:
        images, labels = read_labelled_images(_class_files(root, bad), polarity, bad, max_pixels)
        test = holdout_mask(labels, test_fraction, "folder")
        images, labels, test_images, test_labels = images[~test], labels[~test], images[test], labels[test]
    if len(labels) == 0:
        raise DataError(
            f"No usable digit images in {root}; put images in its 0/ ... 9/ subfolders. Skipped: {bad.examples()}"
        )
    notes = bad.notes()
    missing = digits_without_images(labels, test_labels)
    if missing:  # allowed (a folder of 1s and 7s to test on), but never unnoticed
        notes["folder.digits_without_images"] = ",".join(map(str, missing))
        log.warning("%s has no usable image of digit(s) %s; models trained on it will never predict them.",
                    root, ", ".join(map(str, missing)))
    return SourceData("folder", images, labels, test_images, test_labels, notes=notes)


def _class_files(root: Path, bad: BadInputs) -> list[ImageFiles]:
    """The files of each class folder under ``root``; anything unlabelled goes to ``bad``."""
    groups = []
    for entry in sorted(root.iterdir(), key=lambda entry: natural_key(entry.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name in _LABELS:
            groups.append(ImageFiles(int(entry.name), tuple(str(path) for path in list_images(entry))))
        elif entry.is_dir():
            count = len(list_images(entry))
            bad.add(
                str(entry), f"folder name {entry.name!r} is not a digit label 0-9, so its {count} file(s) have no label"
            )
        else:
            bad.add(str(entry), "lies outside the class folders 0/ ... 9/, so it has no label")
    if not groups:
        raise DataError(
            f"{root} has no class folders 0/ ... 9/. Put each digit's images in a subfolder named after it."
        )
    return groups
