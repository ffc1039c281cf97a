"""Fetch missing MNIST files from public mirrors: verified, atomic, with a progress bar.

Each file is streamed into a hidden temporary file next to its destination
while its sha256 is computed; only a file whose digest matches the canonical
one is renamed into place, so an interrupted or corrupted download never
leaves a file that a later run would trust. Mirrors are tried in order.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

log = logging.getLogger(__name__)

#: Public copies of the canonical files (yann.lecun.com no longer serves them reliably).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: Seconds a connection attempt or a read may stall before the mirror counts as unreachable.
DEFAULT_TIMEOUT = 5.0
_CHUNK = 1 << 16


class DownloadError(Exception):
    """No mirror delivered a file with the expected checksum; the message lists every attempt."""


def download_files(
    folder: Path,
    files: Mapping[str, str],
    mirrors: Sequence[str] = MNIST_MIRRORS,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Download each of ``files`` that is absent from ``folder``, trying the mirrors in order.

    Args:
        folder: Destination folder (created if needed).
        files: ``{file name: expected sha256}``.
        mirrors: Base URLs; a file's URL is the base URL followed by its name.
        timeout: Seconds before a stalled connection or read is abandoned.

    Raises:
        DownloadError: when a file could not be fetched intact from any mirror,
            or the folder is not writable.
    """
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create {folder} ({error})") from error
    try:
        for name, sha256 in files.items():
            if not (folder / name).is_file():
                _download_from_mirrors(name, folder / name, sha256, mirrors, timeout)
    except DownloadError:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave no empty folder behind when nothing could be fetched
        raise


def _download_from_mirrors(name: str, destination: Path, sha256: str, mirrors: Sequence[str], timeout: float) -> None:
    """Try each mirror in turn for one file; raise a DownloadError listing every failed attempt."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            download_file(url, destination, sha256, timeout)
            return
        except DownloadError as error:
            failures.append(f"{url}: {error}")
    raise DownloadError(f"could not download {name} ({'; '.join(failures) or 'no mirrors configured'})")


def download_file(url: str, destination: Path, sha256: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Download ``url`` to ``destination`` if its content has the expected sha256.

    The bytes go to a temporary file in the destination's folder, which is
    renamed over ``destination`` only after the checksum matched, and removed
    on any failure (including Ctrl-C).

    Raises:
        DownloadError: on a network error, a timeout or a checksum mismatch.
    """
    try:
        handle, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    except OSError as error:
        raise DownloadError(f"cannot write to {destination.parent} ({error})") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            actual = _stream(url, stream, timeout, destination.name)
        if actual != sha256:
            raise DownloadError(f"the downloaded file's sha256 is {actual}, expected {sha256}; it was discarded")
        os.replace(temp_name, destination)
    except (OSError, ValueError, http.client.HTTPException) as error:  # ValueError: a malformed URL
        Path(temp_name).unlink(missing_ok=True)
        raise DownloadError(str(error)) from error
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    log.info("Downloaded %s from %s", destination, url)


def _stream(url: str, stream: BinaryIO, timeout: float, label: str) -> str:
    """Copy the body of ``url`` into ``stream`` with a progress bar; return its sha256."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "digit_experiments"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        progress = _Progress(label, int(response.headers.get("Content-Length") or 0))
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            stream.write(chunk)
            progress.advance(len(chunk))
        progress.finish()
    return digest.hexdigest()


class _Progress:
    """A one-line download progress bar on stderr, drawn only when stderr is a terminal.

    Args:
        label: What is being downloaded.
        total: Expected size in bytes (0 when the server did not say).
    """

    _WIDTH = 30
    _INTERVAL = 0.1

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = sys.stderr.isatty()
        self._drawn_at = 0.0

    def advance(self, count: int) -> None:
        """Account for ``count`` more bytes, redrawing at most ten times a second."""
        self.done += count
        if self.enabled and time.monotonic() - self._drawn_at >= self._INTERVAL:
            self._draw()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw()
            sys.stderr.write("\n")

    def _draw(self) -> None:
        """Rewrite the line: label, bar, percentage and megabytes."""
        self._drawn_at = time.monotonic()
        size = f"{self.done / 1e6:.1f}"
        if self.total:
            filled = int(self._WIDTH * min(self.done / self.total, 1.0))
            bar = f" [{'#' * filled}{'.' * (self._WIDTH - filled)}] {100 * self.done / self.total:5.1f}%"
            size += f"/{self.total / 1e6:.1f}"
        else:
            bar = ""
        sys.stderr.write(f"\r{self.label}{bar} {size} MB")
        sys.stderr.flush()
