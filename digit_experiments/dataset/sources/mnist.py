"""MNIST from its canonical IDX ``.gz`` files, verified against known checksums.

Missing files are downloaded from public mirrors (see :mod:`.download`) when
``download`` is on (``dataset=auto`` turns it on); otherwise, or offline,
loading fails with a message that says where to put the files. MNIST defines
the target style, so its images are used as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.checksums import verify_sha256
from digit_experiments.dataset.io.download import DEFAULT_TIMEOUT, MNIST_MIRRORS, DownloadError, download_files
from digit_experiments.dataset.io.idx import read_idx
from digit_experiments.core.errors import DataMissing

#: The four canonical files and their sha256 digests (see shared/data/SOURCES.md).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def mnist_dir(data_dir: Path) -> Path:
    """The folder that holds the MNIST files inside the data directory."""
    return data_dir / "mnist"


def missing_mnist_files(data_dir: Path) -> list[str]:
    """Names of the canonical MNIST files absent from ``data_dir/mnist``."""
    return [name for name in MNIST_FILES if not (mnist_dir(data_dir) / name).is_file()]


@SOURCES.register("mnist")
def load_mnist(
    data_dir: Path,
    download: bool = False,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SourceData:
    """Load MNIST's 60,000 training and 10,000 test images from ``data_dir/mnist``.

    Every file is verified against its canonical sha256 before it is parsed.

    Args:
        data_dir: Root data directory.
        download: Fetch missing files from the mirrors first. Off by default, so
            an explicit ``dataset=mnist`` never touches the network unasked.
        mirrors: Base URLs to download from, in order (default: :data:`MNIST_MIRRORS`).
        timeout: Seconds before an unresponsive mirror is given up.

    Raises:
        DataError: when a file is missing and cannot be downloaded (saying
            where to put it) or is corrupt (naming the file and both checksums).
    """
    folder = mnist_dir(data_dir)
    failure = ""
    if download and missing_mnist_files(data_dir):
        try:
            download_files(folder, MNIST_FILES, MNIST_MIRRORS if mirrors is None else mirrors, timeout)
        except DownloadError as error:
            failure = f" Downloading them failed: {error}."
    missing = missing_mnist_files(data_dir)
    if missing:
        fetch = "" if download else ", let the run download them (`dataset=auto`)"
        raise DataMissing(
            f"MNIST files missing from {folder}: {', '.join(missing)}.{failure} Put the four canonical IDX .gz files "
            f"({', '.join(MNIST_FILES)}) in that folder{fetch}, or point the data directory elsewhere with "
            "`paths.data_dir=/path/to/data` or the DIGITS_DATA_DIR environment variable."
        )
    fix = f"Delete it and put the canonical file in {folder}."
    checksums = {f"mnist/{name}": verify_sha256(folder / name, digest, fix) for name, digest in MNIST_FILES.items()}
    arrays = {name: read_idx(folder / name) for name in MNIST_FILES}
    return SourceData(
        name="mnist",
        train_images=arrays["train-images-idx3-ubyte.gz"],
        train_labels=arrays["train-labels-idx1-ubyte.gz"],
        test_images=arrays["t10k-images-idx3-ubyte.gz"],
        test_labels=arrays["t10k-labels-idx1-ubyte.gz"],
        checksums=checksums,
    )
