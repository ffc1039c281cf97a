"""The image files a prediction is asked for, decoded to greyscale.

``predict`` accepts files, glob patterns and folders; :func:`expand_inputs`
turns them into a list of files and names each input that matched nothing,
so that it can be reported on its own line while the other files are scored.
:func:`decode_files` decodes the files in parallel and keeps a reason for
every file that cannot be read instead of stopping at the first one.
"""

from __future__ import annotations

import functools

import glob
from pathlib import Path
from typing import Sequence

import numpy as np

from digit_experiments.core.pools import thread_map
from digit_experiments.dataset.io.image_files import MAX_IMAGE_PIXELS, decode_gray, list_images, natural_key

#: Why an input named no file: ``(the input as given, the reason)``.
Unmatched = tuple[str, str]


def expand_inputs(inputs: str | Sequence[str]) -> tuple[list[Path], list[Unmatched]]:
    """Files named by ``inputs``: files as given, globs expanded, folders searched recursively.

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
            images = list_images(path)
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
