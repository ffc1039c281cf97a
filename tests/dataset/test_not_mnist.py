"""not_mnist: the full 107,730 real PNGs once (cold, then warm from the cache), layouts and errors on small copies."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.holdout import holdout_mask
from digit_experiments.dataset.sources.not_mnist import FOLDER, load_not_mnist
from digit_experiments.core.errors import DataError

from helpers.digit_checks import assert_mnist_style

ZIP_SHA256 = {
    "0.zip": "b69a220dd72729cab12f1031484302789682e82d0c1f25e16fb09802962c472a",
    "1.zip": "d48d1282a737ff74b31703e6a8e119ee3a65a7b4c1074bae077081cf64d5dac8",
    "2.zip": "b5c3434e7f02491a655aca917d3af64171bd8299f2ef49b158cb2744b3e64b3b",
    "3.zip": "8d5324de343768adb492e20f72d0b44939b620cc252f367e3814475d1c06bd18",
    "4.zip": "3e7a1561877ed00f20b95d186e12079d792f5b7990b9bb2ecdd19b669803457a",
    "5.zip": "70f93bcd37a5d27b70cd0dc95edeedc1f8e6a9a8e6f27ed7958e02ef55aa52bc",
    "6.zip": "878e078e4d8df39bc3b496c058ac4017b002cb503ff74c41caa945d9d0d4bc6f",
    "7.zip": "962c8fe93f1ac8405e01d3a2eceab71a8af7962e0631abdc66908a9f88e9380d",
    "8.zip": "63693a14ced1004707608a838b2b9a71f3a6f6019e0d9de797b9fa22b75d8781",
    "9.zip": "807085684646131d982c54b26b0bafd6f92839fb4b6b13cbddbd285c5b3e0ebd",
}
PER_DIGIT = 30


@pytest.fixture(scope="module")
def members(data_dir: Path) -> dict[int, list[tuple[str, bytes]]]:
    """The first 30 PNGs of each real zip, as (member name, bytes)."""
    out = {}
    for digit in range(10):
        with zipfile.ZipFile(data_dir / FOLDER / f"{digit}.zip") as archive:
            out[digit] = [(name, archive.read(name)) for name in [f"{digit}/{n}.png" for n in range(PER_DIGIT)]]
    return out


def _write_zips(root: Path, members: dict[int, list[tuple[str, bytes]]], digits: range = range(10)) -> Path:
    """Per-digit zips ``D.zip`` holding ``D/<n>.png`` (stored, like the originals)."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for digit in digits:
        with zipfile.ZipFile(folder / f"{digit}.zip", "w") as archive:
            for name, data in members[digit]:
                archive.writestr(name, data)
    return folder


def _write_folders(root: Path, members: dict[int, list[tuple[str, bytes]]], nested: bool = False) -> None:
    """Extracted layout ``D/<n>.png``, or Kaggle's ``D/D/<n>.png`` when nested."""
    for digit, files in members.items():
        for name, data in files:
            path = root / FOLDER / str(digit) / (f"{digit}/" if nested else "") / name.split("/")[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _same(first: SourceData, second: SourceData) -> None:
    for split in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(first, split), getattr(second, split))


def test_full_dataset_counts_checksums_and_style(not_mnist: SourceData) -> None:
    assert np.bincount(not_mnist.train_labels).tolist() == [9696] * 10
    assert np.bincount(not_mnist.test_labels).tolist() == [1077] * 10
    assert not_mnist.checksums == {f"{FOLDER}/{name}": digest for name, digest in ZIP_SHA256.items()}
    assert not_mnist.notes["dataset.cache.not_mnist"].startswith("miss")
    assert_mnist_style(not_mnist.train_images)
    assert_mnist_style(not_mnist.test_images)


def test_full_dataset_loads_warm_from_the_cache(not_mnist: SourceData, data_dir: Path) -> None:
    started = time.perf_counter()
    again = load_not_mnist(data_dir)
    assert time.perf_counter() - started < 5
    assert again.notes["dataset.cache.not_mnist"].startswith("hit")
    _same(again, not_mnist)


def test_zips_extracted_folders_and_kaggle_nesting_give_the_same_data(members, tmp_path: Path) -> None:
    from_zips = load_not_mnist(_write_zips(tmp_path / "zips", members).parent)
    _write_folders(tmp_path / "folders", members)
    _write_folders(tmp_path / "nested", members, nested=True)
    _same(load_not_mnist(tmp_path / "folders"), from_zips)
    _same(load_not_mnist(tmp_path / "nested"), from_zips)
    assert len(from_zips.test_labels) == 30 and len(from_zips.train_labels) == 270


def test_held_out_split_is_fixed_whatever_the_seed(members, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write_zips(tmp_path / "data", members).parent
    first = load_not_mnist(root)
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path / "another-cache"))
    np.random.seed(123)
    second = load_not_mnist(root)
    assert second.notes["dataset.cache.not_mnist"].startswith("miss")
    _same(first, second)
    labels = np.repeat(np.arange(10), 50)
    np.testing.assert_array_equal(holdout_mask(labels, 0.1, "not_mnist"), holdout_mask(labels, 0.1, "not_mnist"))
    assert not np.array_equal(holdout_mask(labels, 0.1, "not_mnist"), holdout_mask(labels, 0.1, "folder"))


def test_changed_zip_invalidates_the_cache(members, tmp_path: Path) -> None:
    root = _write_zips(tmp_path, members).parent
    load_not_mnist(root)
    assert load_not_mnist(root).notes["dataset.cache.not_mnist"].startswith("hit")
    shorter = {**members, 4: members[4][:-10]}
    _write_zips(tmp_path, shorter, range(4, 5))
    changed = load_not_mnist(root)
    assert changed.notes["dataset.cache.not_mnist"].startswith("miss")
    assert np.bincount(np.concatenate([changed.train_labels, changed.test_labels]))[4] == PER_DIGIT - 10


def test_missing_digit_is_named(members, tmp_path: Path) -> None:
    _write_zips(tmp_path, members, range(9))
    with pytest.raises(DataError, match=r"digit\(s\) 9 have neither a D.zip nor a D/ folder"):
        load_not_mnist(tmp_path)


@pytest.mark.parametrize("layout", ["empty zip", "empty folder"])
def test_a_digit_without_images_stops_the_load(layout: str, members, tmp_path: Path) -> None:
    """An emptied 5.zip (or empty 5/ folder) used to drop digit 5 from training without a word."""
    folder = _write_zips(tmp_path, members)
    (folder / "5.zip").unlink()
    if layout == "empty zip":
        zipfile.ZipFile(folder / "5.zip", "w").close()
    else:
        (folder / "5").mkdir()
    with pytest.raises(DataError, match=r"no readable image of digit\(s\) 5 \(.*5(\.zip)?\)"):
        load_not_mnist(tmp_path)


def test_bad_member_is_named_or_skipped(members, tmp_path: Path) -> None:
    broken = {**members, 3: [*members[3], ("3/notes.txt", b"not an image"), ("3/empty.png", b"")]}
    folder = _write_zips(tmp_path, broken)
    with pytest.raises(DataError, match=r"3.zip:3/empty.png: the file is empty"):
        load_not_mnist(tmp_path)
    source = load_not_mnist(tmp_path, on_error="skip")
    assert source.notes["dataset.not_mnist.skipped_inputs"] == "2"
    assert f"{folder / '3.zip'}:3/notes.txt: not an image" in source.notes["dataset.not_mnist.skipped_examples"]
    assert len(source.train_labels) + len(source.test_labels) == 10 * PER_DIGIT


def test_a_zip_of_a_version_python_cannot_read_is_a_data_error(members, tmp_path: Path) -> None:
    """Found by the fuzzing campaign: zipfile raised a bare NotImplementedError ("zip file version 12.7")."""
    folder = _write_zips(tmp_path, members)
    archive = bytearray((folder / "4.zip").read_bytes())
    central = archive.index(b"PK\x01\x02")
    archive[central + 6:central + 8] = (127).to_bytes(2, "little")  # "version needed to extract": 12.7
    (folder / "4.zip").write_bytes(bytes(archive))
    with pytest.raises(DataError, match=r"4.zip is not a readable zip archive \(zip file version 12.7\)"):
        load_not_mnist(tmp_path)


def test_a_member_without_a_name_is_a_bad_input(members, tmp_path: Path) -> None:
    """Found by the fuzzing campaign: zipfile's is_dir() raised IndexError on an empty member name."""
    with_nameless = {**members, 2: [*members[2], ("x", b"not an image")]}
    folder = _write_zips(tmp_path, with_nameless)
    archive = (folder / "2.zip").read_bytes()
    central = archive.rindex(b"PK\x01\x02")  # the last member's central-directory entry: name length 1 -> 0
    patched = bytearray(archive)
    patched[central + 28:central + 30] = (0).to_bytes(2, "little")
    patched[central + 46:central + 47] = b""
    end = patched.index(b"PK\x05\x06")
    size = int.from_bytes(patched[end + 12:end + 16], "little") - 1
    patched[end + 12:end + 16] = size.to_bytes(4, "little")
    (folder / "2.zip").write_bytes(bytes(patched))
    with pytest.raises(DataError, match=r"2.zip:: a member without a name"):
        load_not_mnist(tmp_path)
    assert load_not_mnist(tmp_path, on_error="skip").notes["dataset.not_mnist.skipped_inputs"] == "1"
