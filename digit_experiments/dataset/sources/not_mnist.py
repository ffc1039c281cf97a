"""The "Handwritten Digits Dataset (not in MNIST)" (Kaggle jcprogjava): 107,730 PNGs, 10,773 per digit.

Each digit ``D`` is read from ``<data_dir>/handwritten-digits-not-mnist/D.zip``
(members ``D/<n>.png``, decoded straight from the archive) or, when there is no
zip, from the extracted folder ``D/`` (``D/<n>.png``, or Kaggle's ``D/D/<n>.png``).
The images are 28×28 RGB with dark ink on white; they are inverted and
standardised to MNIST style.

The dataset has no test split: a fixed 10 % of each digit, drawn with a
constant seed (never the run's), is held out as its test set, so test scores
are comparable across runs: 96,960 train and 10,770 test images.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from digit_experiments.dataset.io.bad_input import BadInputs, check_on_error
from digit_experiments.dataset.sources.base import SOURCES, SourceData, digits_without_images
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.dataset.holdout import holdout_mask
from digit_experiments.dataset.io.image_files import ImageFiles, list_images, natural_key, read_labelled_images, tree_sha256
from digit_experiments.dataset.io.source_cache import load_standardised
from digit_experiments.core.errors import DataError, DataMissing

FOLDER = "handwritten-digits-not-mnist"
TEST_FRACTION = 0.1
#: Bump when the loader's output changes, to invalidate cached arrays.
VERSION = 1


@SOURCES.register("not_mnist")
def load_not_mnist(data_dir: Path, on_error: str = "raise") -> SourceData:
    """Load the ten digits from zips or folders, standardised, with the fixed 10 % test split.

    Args:
        data_dir: Root data directory.
        on_error: ``"raise"`` or ``"skip"`` for an unreadable, undecodable or
            blank image, or a zip member outside its digit's folder.

    Raises:
        DataError: when a digit has neither a zip nor a folder, or a zip is not
            a valid archive.
    """
    check_on_error(on_error)
    root = data_dir / FOLDER
    checksums: dict[str, str] = {}
    locations: dict[int, Path] = {}
    missing = []
    for digit in range(10):
        archive, folder = root / f"{digit}.zip", root / str(digit)
        if archive.is_file():
            checksums[f"{FOLDER}/{archive.name}"] = sha256_file(archive)
            locations[digit] = archive
        elif folder.is_dir():
            checksums[f"{FOLDER}/{digit}"] = tree_sha256(folder, list_images(folder))
            locations[digit] = folder
        else:
            missing.append(str(digit))
    if missing:
        raise DataMissing(
            f"'Handwritten Digits Dataset (not in MNIST)' incomplete in {root}: digit(s) {', '.join(missing)} have "
            "neither a D.zip nor a D/ folder. Put the ten per-digit zips 0.zip ... 9.zip (each holding D/<n>.png) "
            "or the extracted folders 0/ ... 9/ there; the dataset is Kaggle "
            "'jcprogjava/handwritten-digits-dataset-not-in-mnist' (CC BY-SA 4.0)."
        )
    settings = {"version": VERSION, "on_error": on_error, "test_fraction": TEST_FRACTION}
    return load_standardised("not_mnist", checksums, settings, lambda: _build(locations, on_error))


def _build(locations: dict[int, Path], on_error: str) -> SourceData:
    """Decode every digit's images on all cores and hold out the fixed test split."""
    bad = BadInputs("not_mnist", on_error)
    groups = [
        _zip_files(path, digit, bad) if path.suffix == ".zip" else _folder_files(path, digit)
        for digit, path in locations.items()
    ]
    images, labels = read_labelled_images(groups, "dark_on_light", bad)
    missing = digits_without_images(labels)
    if missing:  # an emptied or replaced archive would drop its digit from training without a word
        raise DataError(
            f"The not-MNIST set has no readable image of digit(s) {', '.join(map(str, missing))} "
            f"({', '.join(str(locations[digit]) for digit in missing)}), though it holds every digit. Replace "
            "them with intact copies (../shared/data/SOURCES.md lists the files and their checksums)."
        )
    test = holdout_mask(labels, TEST_FRACTION, "not_mnist")
    return SourceData("not_mnist", images[~test], labels[~test], images[test], labels[test], notes=bad.notes())


def _zip_files(archive: Path, digit: int, bad: BadInputs) -> ImageFiles:
    """The image members of a digit's zip in natural order; members outside ``D/`` go to ``bad``."""
    try:
        with zipfile.ZipFile(archive) as opened:
            members = [info.filename for info in opened.infolist() if not info.filename.endswith("/")]
    except (OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile) as error:
        # NotImplementedError: a zip "version" Python cannot read; ValueError: e.g. an undecodable member name
        raise DataError(
            f"{archive} is not a readable zip archive ({error}). Replace it with an intact copy."
        ) from error
    names = []
    for name in sorted(members, key=natural_key):
        if not name:  # zipfile's is_dir() raised IndexError on such a member (found by fuzzing)
            bad.add(f"{archive}:", "a member without a name")
            continue
        parts = name.split("/")
        if any(part.startswith(".") or part == "__MACOSX" for part in parts):
            continue
        if len(parts) > 1 and parts[0] != str(digit):
            bad.add(
                f"{archive}:{name}",
                f"lies in folder {parts[0]}/ of the archive of digit {digit}, so its label is unclear",
            )
            continue
        names.append(name)
    return ImageFiles(digit, tuple(names), str(archive))


def _folder_files(folder: Path, digit: int) -> ImageFiles:
    """The image files of a digit's extracted folder, in natural order."""
    return ImageFiles(digit, tuple(str(path) for path in list_images(folder)))
