"""MNIST download against a real HTTP server on 127.0.0.1: verified, atomic, mirror fallback, offline error."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from digit_experiments.dataset.io.download import DownloadError, _Progress, download_file
from digit_experiments.dataset.sources.mnist import MNIST_FILES, load_mnist
from digit_experiments.core.errors import DataError

CORRUPTED = "t10k-labels-idx1-ubyte.gz"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a local server with good/ (the canonical files) and corrupt/ (one byte flipped)."""
    root = tmp_path_factory.mktemp("mirror")
    shutil.copytree(data_dir / "mnist", root / "good")
    shutil.copytree(data_dir / "mnist", root / "corrupt")
    broken = root / "corrupt" / CORRUPTED
    data = bytearray(broken.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken.chmod(0o644)
    broken.write_bytes(bytes(data))
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy configured in the environment must not intercept the local server."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` other than the canonical files (e.g. temporary downloads)."""
    return sorted(path.name for path in folder.iterdir() if path.name not in MNIST_FILES)


def test_missing_files_are_downloaded_verified_and_loaded(server: str, tmp_path: Path) -> None:
    mnist = load_mnist(tmp_path, download=True, mirrors=[f"{server}/good/"])
    assert sorted(path.name for path in (tmp_path / "mnist").iterdir()) == sorted(MNIST_FILES)
    assert set(mnist.checksums.values()) == set(MNIST_FILES.values())
    assert len(mnist.train_labels) == 60000 and len(mnist.test_labels) == 10000
    assert np.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_corrupted_copy_is_rejected_and_not_left_behind(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError) as raised:
        load_mnist(tmp_path, download=True, mirrors=[f"{server}/corrupt/"])
    message = str(raised.value)
    assert CORRUPTED in message and MNIST_FILES[CORRUPTED] in message and "discarded" in message
    assert str(tmp_path / "mnist") in message and "DIGITS_DATA_DIR" in message
    folder = tmp_path / "mnist"
    assert not (folder / CORRUPTED).exists()
    assert _leftovers(folder) == []


def test_a_bad_mirror_falls_through_to_the_next(server: str, tmp_path: Path) -> None:
    mirrors = [_closed_port_url(), f"{server}/corrupt/", f"{server}/good/"]
    mnist = load_mnist(tmp_path, download=True, mirrors=mirrors)
    assert (tmp_path / "mnist" / CORRUPTED).is_file() and _leftovers(tmp_path / "mnist") == []
    assert len(mnist.test_labels) == 10000


def test_offline_fails_fast_saying_where_to_put_the_files(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(DataError) as raised:
        load_mnist(tmp_path, download=True, mirrors=[_closed_port_url()], timeout=2.0)
    assert time.perf_counter() - started < 5
    message = str(raised.value)
    assert "Downloading them failed" in message and "Connection refused" in message
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte.gz" in message
    assert not (tmp_path / "mnist").exists(), "no empty folder is left behind"


def test_without_download_nothing_is_fetched(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset=auto"):
        load_mnist(tmp_path, mirrors=[f"{server}/good/"])
    assert not (tmp_path / "mnist").exists()


def test_a_missing_url_is_a_download_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download_file(f"{server}/good/nothing.gz", tmp_path / "nothing.gz", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_draws_percentage_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress("train-images-idx3-ubyte.gz", 2_000_000)
    progress.enabled = True  # as on a terminal
    progress.advance(1_000_000)
    progress.advance(1_000_000)
    progress.finish()
    line = capsys.readouterr().err.split("\r")[-1]
    assert "100.0%" in line and "2.0/2.0 MB" in line and "#" * 30 in line
