"""The image files a prediction is asked for, decoded to greyscale.

``predict`` accepts files, glob patterns and folders; :func:`expand_inputs`
turns them into a list of files and names each input that matched nothing,
so that it can be reported on its own line while the other files are scored.
A folder gives only its files with an image extension (:data:`IMAGE_SUFFIXES`):
a photo folder's ``Thumbs.db`` or a ``labels.csv`` beside the images is
skipped with one log line, not counted as a failed image. A file named
explicitly, or matched by a glob pattern, is always tried.
:func:`decode_files` decodes the files in parallel and keeps a reason for
every file that cannot be read instead of stopping at the first one.
"""

from __future__ import annotations

import functools
import glob
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from digit_experiments.core.pools import thread_map
from digit_experiments.dataset.io.image_files import MAX_IMAGE_PIXELS, decode_gray, list_images, natural_key

#: Why an input named no file: ``(the input as given, the reason)``.
Unmatched = tuple[str, str]

#: Extensions (lower case) of the formats :func:`decode_gray` reads: OpenCV's decoders that give 8- or 16-bit pixels.
IMAGE_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jp2", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp", ".avif",
    ".pbm", ".pgm", ".ppm", ".pnm", ".sr", ".ras",
})
#: Skipped files named in the log line; more are counted.
_SKIPPED_NAMED = 5

log = logging.getLogger(__name__)


def expand_inputs(inputs: str | Sequence[str]) -> tuple[list[Path], list[Unmatched]]:
    """Files named by ``inputs``: files as given, globs expanded, folders searched recursively.

    A folder gives its image files (:func:`folder_images`); the others are
    skipped, and named in one log line per folder.

    Args:
        inputs: A file, glob pattern or folder, or a list of them.

    Returns:
        The files in order (duplicates dropped), and ``(input, reason)`` for
        each input that names nothing.
    """
    files: list[Path] = []
    unmatched: list[Unmatched] = []
    for item in [inputs] if isinstance(inputs, str) else list(inputs):
        item = str(item)
        path = Path(item).expanduser()
        if path.is_dir():
            images = folder_images(path)
            files.extend(images)
            if not images:
                unmatched.append((item, "a folder with no image files in it (its subfolders were searched too)"))
        elif path.exists():
            files.append(path)
        elif glob.has_magic(item):
            matches = sorted(glob.glob(str(path), recursive=True), key=natural_key)
            files.extend(Path(m) for m in matches if Path(m).is_file())
            if not matches:
                unmatched.append((item, "no file matches this pattern"))
        else:
            unmatched.append((item, "no such file or folder"))
    return list(dict.fromkeys(files)), unmatched


def folder_images(folder: Path) -> list[Path]:
    """The image files under ``folder``, by extension; logs the other files it skips.

    Folders of photos hold files that are not digits (Windows' ``Thumbs.db``,
    a ``labels.csv``); they are skipped rather than reported as failed
    images, so such a folder can still exit 0. Hidden files are skipped
    silently by :func:`list_images`.

    Args:
        folder: A folder, searched recursively.

    Returns:
        Its files whose extension (any case) is in :data:`IMAGE_SUFFIXES`, in natural order.
    """
    files = list_images(folder)
    images = [path for path in files if path.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [path.relative_to(folder).as_posix() for path in files if path.suffix.lower() not in IMAGE_SUFFIXES]
    if skipped:
        more = f" and {len(skipped) - _SKIPPED_NAMED} more" if len(skipped) > _SKIPPED_NAMED else ""
        log.info(
            "Skipped %d file(s) in %s that are not images by their extension: %s%s "
            "(name a file explicitly to try it anyway).",
            len(skipped), folder, ", ".join(skipped[:_SKIPPED_NAMED]), more,
        )
    return images


def decode_files(
    files: Sequence[Path], max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Decode every file to a greyscale image, on a thread per core (OpenCV releases the GIL).

    Args:
        files: The image files.
        max_pixels: A file declaring more pixels fails unread (a decompression bomb never takes the others down).

    Returns:
        Per file, the image (None when it failed) and the reason it failed (None on success).
    """
    results = thread_map(functools.partial(decode_file, max_pixels=max_pixels), files)
    return [image for image, _ in results], [error for _, error in results]


def decode_file(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """One file as a greyscale image, or None and the reason it cannot be used.

    Args:
        path: An image file of any format OpenCV reads.
        max_pixels: Larger images fail from their header, unread.

    Returns:
        ``(image, None)``, or ``(None, reason)`` when the file is unreadable,
        not an image, or smaller than 2 pixels in a direction.
    """
    try:
        image = decode_gray(path.read_bytes(), max_pixels)
    except (OSError, ValueError) as error:
        return None, str(error)
    if min(image.shape) < 2:
        return None, f"image too small ({image.shape[1]}x{image.shape[0]} px)"
    return image, None
