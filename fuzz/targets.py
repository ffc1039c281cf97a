"""Fuzz targets: each dataset loader fed a mutated copy of a small, valid file of its format.

A target writes one input into the layout its loader expects, in a fresh data
directory, and calls the loader as a run would. The contract under test: a
loader either loads or raises the project's named errors
(:class:`~digit_experiments.core.errors.DataError`, :class:`~digit_experiments.core.errors.UserError`);
any other exception, a hang or a crash is a finding.

Inputs are drawn by Hypothesis (:func:`inputs`): a valid seed file with a
few byte-level mutations (flips, overwrites with boundary values, inserts,
deletes, truncation), applied either to the file as stored or to its content
before it is compressed or archived, so that mutations reach the parsers
behind gzip and zip as well as the containers themselves. Hypothesis is used
instead of a coverage-guided fuzzer because the interesting code is in the
formats' structure, which the seeds already exercise, and because the same
targets then run as short, deterministic tests in the suite.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
from hypothesis import strategies as st
from PIL import Image

from digit_experiments.core.errors import UserError
from digit_experiments.dataset.io.idx import read_idx
from digit_experiments.dataset.sources.csv_file import load_csv
from digit_experiments.dataset.sources.emnist import CSV_FILES, load_emnist_digits
from digit_experiments.dataset.sources.folder import load_folder
from digit_experiments.dataset.sources.not_mnist import load_not_mnist
from digit_experiments.dataset.sources.usps import load_usps

_RNG = np.random.default_rng(0)
_DIGITS = _RNG.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
_LABELS = np.arange(20) % 10


@dataclass(frozen=True)
class Target:
    """One loader under fuzzing.

    Args:
        name: The target's name (``--target`` of the campaign).
        seeds: Valid contents to mutate (several formats for the image decoder).
        pack: Turns (possibly mutated) content into the stored file: gzip, a zip, or as is.
        load: Writes the file into a data directory and calls the loader.
    """

    name: str
    seeds: tuple[bytes, ...]
    pack: Callable[[bytes], bytes]
    load: Callable[[bytes, Path], object]


def _idx(images: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, images.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    return header + images.tobytes()


def _load_idx(data: bytes, folder: Path) -> object:
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(data)
    return read_idx(path)


def _pixel_csv(header: bool) -> bytes:
    rows = [",".join(["label", *(f"pixel{i}" for i in range(784))])] if header else []
    rows += [",".join(map(str, [label, *image.ravel()])) for image, label in zip(_DIGITS, _LABELS)]
    return ("\n".join(rows) + "\n").encode()


def _load_kaggle_csv(data: bytes, folder: Path) -> object:
    (folder / "train.csv").write_bytes(data)
    return load_csv(folder, "train.csv", on_error="skip")


def _load_emnist_csv(data: bytes, folder: Path) -> object:
    (folder / "emnist").mkdir()
    for name in CSV_FILES:
        (folder / "emnist" / name).write_bytes(data)
    return load_emnist_digits(folder, on_error="skip")


def _usps_h5() -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as store:
        for split in ("train", "test"):
            store.create_dataset(f"{split}/data", data=_DIGITS[:10, :16, :16].reshape(10, 256) / 255.0)
            store.create_dataset(f"{split}/target", data=_LABELS[:10])
    return buffer.getvalue()


def _load_usps(data: bytes, folder: Path) -> object:
    (folder / "usps").mkdir()
    (folder / "usps" / "usps.h5").write_bytes(data)
    return load_usps(folder, on_error="skip")


def _png(image: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=format)
    return buffer.getvalue()


def _digit_zip(digit: int, members: dict[str, bytes] | None = None) -> bytes:
    """A not-MNIST style zip: ``D/<n>.png`` members, stored uncompressed so mutations reach the PNGs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in (members or {f"{digit}/{n}.png": _png(_DIGITS[n]) for n in range(2)}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _load_not_mnist(data: bytes, folder: Path) -> object:
    root = folder / "handwritten-digits-not-mnist"
    root.mkdir()
    for digit in range(1, 10):
        (root / f"{digit}.zip").write_bytes(_VALID_ZIPS[digit])
    (root / "0.zip").write_bytes(data)
    return load_not_mnist(folder, on_error="skip")


def _load_image_folder(data: bytes, folder: Path) -> object:
    for digit in range(10):
        (folder / "digits" / str(digit)).mkdir(parents=True)
        (folder / "digits" / str(digit) / "good.png").write_bytes(_VALID_PNGS[digit])
    (folder / "digits" / "3" / "fuzzed.png").write_bytes(data)
    return load_folder(folder, "digits", on_error="skip", test_fraction=0.1)


_VALID_ZIPS = {digit: _digit_zip(digit) for digit in range(10)}
_VALID_PNGS = {digit: _png(_DIGITS[digit]) for digit in range(10)}
_IMAGE_SEEDS = tuple(_png(_DIGITS[0], format) for format in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"))


def _identity(content: bytes) -> bytes:
    return content


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("idx", (_idx(_DIGITS[:4]), _idx(_LABELS.astype(np.uint8))), gzip.compress, _load_idx),
        Target("kaggle_csv", (_pixel_csv(header=True),), _identity, _load_kaggle_csv),
        Target("usps_h5", (_usps_h5(),), _identity, _load_usps),
        Target("not_mnist_zip", (_VALID_ZIPS[0],), _identity, _load_not_mnist),
        Target("images", _IMAGE_SEEDS, _identity, _load_image_folder),
        Target("emnist_csv", (_pixel_csv(header=False),), _identity, _load_emnist_csv),
    )
}

_BOUNDARY_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
_BOUNDARY_INTS = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 28, 784, 60000)


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with 1-8 random byte-level mutations."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(("flip", "boundary", "int32", "insert", "delete", "truncate")))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "boundary" and data:
            data[at] = draw(st.sampled_from(_BOUNDARY_BYTES))
        elif kind == "int32":
            data[at:at + 4] = draw(st.sampled_from(_BOUNDARY_INTS)).to_bytes(4, draw(st.sampled_from(("big", "little"))))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    """Stored files for ``target``: mutated before packing, mutated after, or arbitrary bytes."""
    seed = st.sampled_from(target.seeds)
    return st.one_of(
        seed.flatmap(_mutated).map(target.pack),
        seed.map(target.pack).flatmap(_mutated),
        st.binary(max_size=2048),
    )


def check(target: Target, data: bytes, folder: Path) -> None:
    """Feed ``data`` to ``target`` in the empty ``folder``; a named error is a pass, anything else propagates.

    ``DataError`` and ``ConfigError`` are both ``UserError``s.
    """
    try:
        target.load(data, folder)
    except UserError:
        pass
