"""What predict takes from a folder and what it refuses to score: non-image files and images without ink."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from digit_experiments.dataset.io.idx import read_idx
from digit_experiments.inference.image_inputs import expand_inputs
from digit_experiments.inference.loading import load_ensemble
from digit_experiments.inference.prediction import predict_files
from helpers import run_cli

#: The start of the error line of an image without ink.
NO_INK = "holds no digit: no ink found (a blank or uniform image)"
#: Images that standardise to an empty canvas: no ink anywhere.
BLANKS = ("blank_white.png", "blank_black.png", "thin_strip.png", "uniform_grey.jpg")
#: Real digits, some of them hard to see: each must still be scored.
DIGITS = ("seven.png", "faint_seven.png", "thin_stroke.png", "seven_on_paper.jpg")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but real Keras digit classifier, saved as predict reads an export."""
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.save(path)
    return path


def write_digits(folder: Path, data_dir: Path) -> None:
    """The :data:`DIGITS`: an MNIST seven as given, at 3 grey levels of contrast, dark on grey paper, and a 1 px stroke."""
    folder.mkdir(parents=True, exist_ok=True)
    seven = read_idx(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")[0]
    cv2.imwrite(str(folder / "seven.png"), seven)
    cv2.imwrite(str(folder / "faint_seven.png"), (200 - seven.astype(np.float32) * 3 / 255).astype(np.uint8))
    cv2.imwrite(str(folder / "seven_on_paper.jpg"), cv2.resize(190 - seven // 2, (112, 112)))
    stroke = np.full((80, 60), 255, np.uint8)
    cv2.line(stroke, (30, 10), (30, 70), 0, 1)
    cv2.imwrite(str(folder / "thin_stroke.png"), stroke)


def write_blanks(folder: Path) -> None:
    """The :data:`BLANKS`, as the user's audit found them: white, black, a 3x400 strip, and uniform grey."""
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "blank_white.png"), np.full((64, 64), 255, np.uint8))
    cv2.imwrite(str(folder / "blank_black.png"), np.zeros((64, 64), np.uint8))
    cv2.imwrite(str(folder / "thin_strip.png"), np.zeros((3, 400), np.uint8))
    cv2.imwrite(str(folder / "uniform_grey.jpg"), np.full((50, 50), 128, np.uint8))


def write_clutter(folder: Path) -> None:
    """What sits beside photos: Windows' thumbnail cache, a labels file, a hidden file and a note in a subfolder."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 thumbnail cache")
    (folder / "labels.csv").write_text("file,label\nseven.png,7\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "sub" / "notes.txt").write_text("scanned on Monday")


def test_a_folder_gives_its_images_and_names_the_files_it_skips(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: Thumbs.db and labels.csv came out as files to decode, each a failed image."""
    write_clutter(tmp_path)
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    for name in ("b.png", "a.JPG", "sub/c.tiff"):
        cv2.imwrite(str(tmp_path / name), image)
    with caplog.at_level(logging.INFO, "digit_experiments.inference.image_inputs"):
        files, unmatched = expand_inputs(str(tmp_path))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.JPG", "b.png", "sub/c.tiff"] and unmatched == []
    (line,) = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert f"Skipped 3 file(s) in {tmp_path} that are not images by their extension: Thumbs.db, labels.csv, sub/notes.txt" in line
    assert ".DS_Store" not in line, "hidden files are skipped silently, as before"


def test_many_skipped_files_are_counted_past_the_first_five(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for index in range(8):
        (tmp_path / f"{index}.txt").write_text("not a digit")
    with caplog.at_level(logging.INFO, "digit_experiments.inference.image_inputs"):
        expand_inputs(str(tmp_path))
    assert "Skipped 8 file(s)" in caplog.text and "0.txt, 1.txt, 2.txt, 3.txt, 4.txt and 3 more" in caplog.text


def test_a_file_named_or_globbed_is_tried_whatever_its_extension(tmp_path: Path) -> None:
    write_clutter(tmp_path)
    files, _ = expand_inputs([str(tmp_path / "labels.csv"), f"{tmp_path}/T*"])
    assert [f.name for f in files] == ["labels.csv", "Thumbs.db"]


def test_a_folder_of_non_images_still_names_itself_as_holding_no_image(tmp_path: Path) -> None:
    write_clutter(tmp_path)
    files, unmatched = expand_inputs(str(tmp_path))
    assert files == [] and unmatched == [(str(tmp_path), "a folder with no image files in it (its subfolders were searched too)")]


def test_blank_images_are_errors_and_real_digits_are_scored(model_file: Path, data_dir: Path, tmp_path: Path) -> None:
    """Before: each blank came back as a digit with probability 1.0 (through the audit's trained model)."""
    write_digits(tmp_path, data_dir)
    write_blanks(tmp_path)
    ensemble = load_ensemble(str(model_file))
    for tta in (False, True):
        rows = {Path(p.file).name: p for p in predict_files(ensemble, str(tmp_path), tta=tta)}
        assert all(NO_INK in str(rows[name].error) for name in BLANKS), {name: rows[name].error for name in BLANKS}
        assert all(rows[name].error is None and rows[name].probabilities.shape == (10,) for name in DIGITS)
    (only_blank,) = predict_files(ensemble, str(tmp_path / "blank_white.png"), tta=True)
    assert NO_INK in str(only_blank.error), "nothing left to score is no special case"


@pytest.mark.e2e
def test_predict_scores_a_photo_folder_with_clutter_and_exits_1_only_for_a_blank(
    model_file: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Before: a folder with Thumbs.db and labels.csv printed two `ERROR: not an image` lines and exited 1."""
    photos = tmp_path / "photos"
    write_digits(photos, data_dir)
    write_clutter(photos)
    clean = run_cli("digit_experiments.predict", [f"model_uri={model_file}", f"inputs={photos}", "format=json"], cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr[-3000:]
    assert sorted(Path(row["file"]).name for row in json.loads(clean.stdout)) == sorted(DIGITS)
    assert "Skipped 3 file(s)" in clean.stderr and "Thumbs.db, labels.csv, sub/notes.txt" in clean.stderr
    write_blanks(photos)
    blank = run_cli("digit_experiments.predict", [f"model_uri={model_file}", f"inputs={photos}"], cwd=tmp_path)
    assert blank.returncode == 1, blank.stdout + blank.stderr[-3000:]
    lines = {line.split()[0]: line for line in blank.stdout.splitlines()[1:]}
    assert all(f"ERROR: {NO_INK}" in lines[str(photos / name)] for name in BLANKS)
    assert all("ERROR" not in lines[str(photos / name)] for name in DIGITS)


@pytest.mark.parametrize(("option", "message"), [("polarity=foo", "Unknown polarity 'foo'"), ("format=xml", "xml")])
def test_a_bad_option_is_refused_before_the_model_loads(option: str, message: str, tmp_path: Path) -> None:
    """``polarity=foo`` was refused only after the model had loaded (a missing model would have hidden it)."""
    result = run_cli("digit_experiments.predict", ["model_uri=missing/model.keras", "inputs=a.png", option], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert "missing/model.keras" not in result.stderr
