"""Decode labelled digit images from folders or zip archives, on every core.

Every file is treated as possibly hostile: its dimensions are read from its
header (Pillow) before any pixel is decoded, and an image over
``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`) is refused as a counted bad
input, so a decompression bomb (a small PNG declaring 40,000 x 40,000 pixels)
costs nothing. Multi-frame files (GIF, TIFF, WebP) are read as their first frame.

Used by the ``folder`` source (a user's own images) and ``not_mnist`` (PNGs in
per-digit zips or folders). Each file is decoded with OpenCV straight from its
bytes, turned to greyscale and standardised inside the worker process; the
parent only gathers the 28×28 results and the list of files that failed.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from digit_experiments.dataset.io.bad_input import BadInputs
from digit_experiments.dataset.io.checksums import sha256_file
from digit_experiments.core.pools import process_map
from digit_experiments.dataset.standardise import has_ink, standardise_batch, standardise_images

#: Loose files per worker task: enough to amortise shipping the results, few enough to balance the cores.
_TASK_SIZE = 4096
#: Below this many files, starting worker processes costs more than it saves.
_PARALLEL_MIN_FILES = 2048
#: Images up to this many pixels are standardised in batches; larger ones one by one.
_BATCH_MAX_PIXELS = 64 * 64
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Default limit on an image's pixels (about a 40-megapixel photo); larger files are refused unread.
MAX_IMAGE_PIXELS = 40_000_000

_LOCAL_HEADER = b"PK\x03\x04"

# OpenCV logs every file it cannot decode on stderr ("[ERROR:0@1.6] imdecode_ ... can't read
# header"); each such file is already reported once, by name and reason, as a bad input.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

Problem = tuple[int, str, str]  # (position in the task, where, reason)


@dataclass(frozen=True)
class ImageFiles:
    """Image files that all show one digit.

    Attributes:
        label: The digit, 0-9.
        names: File paths, or member names inside ``archive``, in a stable order.
        archive: Path of the zip archive that holds them; None for files on disk.
    """

    label: int
    names: tuple[str, ...]
    archive: str | None = None


def natural_key(text: str) -> list[int | str]:
    """Sort key that orders embedded numbers by value ("2.png" before "10.png")."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def list_images(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively) in natural order, hidden files and folders excluded.

    Hidden entries (``.DS_Store``, ``.ipynb_checkpoints/``) are operating-system
    or tool metadata, not digits, so they are not reported as bad inputs.
    """
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda path: natural_key(path.relative_to(folder).as_posix()))


def tree_sha256(root: Path, files: Sequence[Path]) -> str:
    """One sha256 over the relative paths and contents of ``files``: a folder's cache key.

    Renaming, adding, removing or editing any file changes it.
    """
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


class ImageTooLarge(ValueError):
    """An image whose header declares more pixels than the limit: a real format, refused unread for its size."""


def check_dimensions(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels, before decoding it.

    Raises:
        ImageTooLarge: naming the size and the limit.
    """
    size = _declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(
            f"declares {size[0]} x {size[1]} pixels, over the limit of {max_pixels:,} (a decompression bomb?); "
            "refused unread. Raise the limit with max_image_pixels=... if the image is real."
        )


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header, or None for a format Pillow does not read.

    A PNG's size sits at a fixed place in its first chunk and is read
    directly: opening the header with Pillow costs about 24 µs, as much as
    decoding a small PNG, and the not-MNIST set alone has 107,730 of them.
    Every other format goes through Pillow's header parser.

    Raises:
        ValueError: when Pillow itself refuses the header as a decompression bomb.
    """
    if data.startswith(_PNG_MAGIC) and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    try:
        with Image.open(io.BytesIO(data)) as header:
            return header.size
    except Image.DecompressionBombError:
        raise ValueError(
            "declares more pixels than Pillow's safety limit (a decompression bomb?); refused unread"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error):
        return None  # OpenCV decides, within its own pixel limit


def decode_gray(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file's bytes into a 2-D greyscale image with values in [0, 255].

    Any format OpenCV reads works (PNG, JPEG, BMP, GIF, TIFF, WebP, ...), in
    8 or 16 bits, grey, colour or with an alpha channel; a multi-frame file
    gives its first frame. JPEGs are decoded with their EXIF orientation
    applied, so phone photos come out upright.

    Args:
        data: The file's bytes.
        max_pixels: Larger images are refused from their header, unread.

    Returns:
        uint8 for 8-bit images without transparency, float32 otherwise.

    Raises:
        ValueError: with the reason, for an empty, oversized, truncated or undecodable file.
    """
    if not data:
        raise ValueError("the file is empty (0 bytes)")
    check_dimensions(data, max_pixels)
    flags = cv2.IMREAD_GRAYSCALE if data.startswith(_JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as error:  # OpenCV's own size limit, or a header it cannot parse
        raise ValueError(f"cannot be decoded safely ({str(error).strip().splitlines()[-1][:200]})") from None
    if image is None:
        raise ValueError("not an image OpenCV can decode (wrong format, or truncated)")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported pixel type {image.dtype}; save it as 8- or 16-bit")
    if image.ndim == 3 and image.shape[2] == 4:
        return _flatten_alpha(image.astype(np.float32) * (255.0 / np.iinfo(image.dtype).max))
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.shape[2] == 3 else image[..., 0]
    return image if image.dtype == np.uint8 else image.astype(np.float32) * (255.0 / 65535.0)


def _flatten_alpha(bgra: np.ndarray) -> np.ndarray:
    """Greyscale of a float BGRA image in [0, 255], composited onto a backdrop that contrasts with its ink.

    A digit drawn on a transparent canvas keeps its ink in the opaque pixels;
    putting them on white (for dark ink) or black (for light ink) keeps the
    digit visible whatever colour the transparent pixels happen to hold.
    """
    gray = cv2.cvtColor(bgra, cv2.COLOR_BGRA2GRAY)
    alpha = bgra[..., 3] / 255.0
    opaque = alpha > 0.5
    if opaque.all():
        return gray
    backdrop = 255.0 if not opaque.any() or gray[opaque].mean() < 128 else 0.0
    return gray * alpha + backdrop * (1.0 - alpha)


def read_labelled_images(
    groups: Sequence[ImageFiles], polarity: str, bad: BadInputs, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and standardise every file of every group, in order.

    Thousands of files are spread over all cores; a few (a small user
    folder) are done in this process, where starting workers would cost more.

    Args:
        groups: The files of each digit.
        polarity: Passed to :func:`~digit_experiments.dataset.standardise.standardise_batch`.
        bad: Receives each file that is empty, oversized, undecodable or blank,
            named by its path (``archive:member`` inside a zip).
        max_pixels: Images declaring more pixels are refused unread.

    Returns:
        ``(N, 28, 28)`` uint8 images and ``(N,)`` int64 labels of the good files.
    """
    tasks = [(part, polarity, max_pixels) for group in groups for part in _parts(group)]
    in_parallel = sum(len(group.names) for group in groups) >= _PARALLEL_MIN_FILES
    results = process_map(_decode_task, tasks) if in_parallel else [_decode_task(task) for task in tasks]
    images, labels = [np.zeros((0, 28, 28), np.uint8)], [np.zeros(0, np.int64)]
    for (files, _, _), (decoded, problems) in zip(tasks, results):
        for _, where, reason in problems:
            bad.add(where, reason)
        images.append(decoded)
        labels.append(np.full(len(decoded), files.label, np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _parts(group: ImageFiles) -> list[ImageFiles]:
    """Split a group into worker tasks: a zip archive whole (each task re-reads its directory), folders in chunks."""
    if group.archive is not None:
        return [group]
    return [
        ImageFiles(group.label, group.names[start : start + _TASK_SIZE])
        for start in range(0, len(group.names), _TASK_SIZE)
    ]


def _decode_task(task: tuple[ImageFiles, str, int]) -> tuple[np.ndarray, list[Problem]]:
    """Worker: decode and standardise one chunk of files; report the bad ones in file order.

    Small images are standardised together at the end (fast); larger ones,
    such as photos, one by one as they are decoded, so that only their 28×28
    results are kept in memory.
    """
    files, polarity, max_pixels = task
    small, ready, problems = [], [], []
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # bad files are reported below instead
    try:
        for position, (where, data) in enumerate(_read_bytes(files)):
            if isinstance(data, Exception):
                problems.append((position, where, f"cannot be read ({data})"))
                continue
            try:
                image = decode_gray(data, max_pixels)
            except ValueError as error:
                problems.append((position, where, str(error)))
                continue
            if image.size <= _BATCH_MAX_PIXELS:
                small.append((position, where, image))
            else:
                ready.append((position, where, standardise_batch(image[np.newaxis], polarity)[0]))
    finally:
        cv2.utils.logging.setLogLevel(previous)
    standardised = standardise_images([image for _, _, image in small], polarity)
    entries = sorted([(position, where, image) for (position, where, _), image in zip(small, standardised)] + ready)
    images = np.stack([image for _, _, image in entries]) if entries else np.zeros((0, 28, 28), np.uint8)
    blank = ~has_ink(images)
    problems += [
        (position, where, "no ink found (a blank image)") for (position, where, _), b in zip(entries, blank) if b
    ]
    return images[~blank], sorted(problems)


def _read_bytes(files: ImageFiles) -> Iterator[tuple[str, bytes | Exception]]:
    """Yield ``(where, content)`` for each file; ``content`` is the error when it cannot be read."""
    if files.archive is None:
        for name in files.names:
            try:
                yield name, Path(name).read_bytes()
            except OSError as error:
                yield name, error
        return
    with zipfile.ZipFile(files.archive) as archive:
        members = {info.filename: info for info in archive.infolist()}
        content = Path(files.archive).read_bytes()
        for name in files.names:
            try:
                yield f"{files.archive}:{name}", _member_bytes(archive, content, members[name])
            except (OSError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as error:
                yield f"{files.archive}:{name}", error


def _member_bytes(archive: zipfile.ZipFile, content: bytes, member: zipfile.ZipInfo) -> bytes:
    """A member's bytes, sliced straight out of the archive's ``content`` and CRC-checked.

    ``ZipFile.read`` costs ~30 µs of Python per member, as much as decoding a
    small PNG; slicing costs ~3 µs. Encrypted members and compression methods
    other than stored and deflated take the general path.
    """
    if member.flag_bits & 0x1 or member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return archive.read(member)
    offset = member.header_offset
    if content[offset : offset + 4] != _LOCAL_HEADER:
        raise zipfile.BadZipFile(f"bad local header for {member.filename}")
    name_length, extra_length = struct.unpack_from("<HH", content, offset + 26)
    start = offset + 30 + name_length + extra_length
    data = content[start : start + member.compress_size]
    if member.compress_type == zipfile.ZIP_DEFLATED:
        data = zlib.decompress(data, -zlib.MAX_WBITS)
    if zlib.crc32(data) != member.CRC:
        raise zipfile.BadZipFile(f"CRC check failed for {member.filename}")
    return data
