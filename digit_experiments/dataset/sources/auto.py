"""The default dataset: MNIST when it is present or downloadable, otherwise the embedded set.

This is what makes the main command run on a fresh offline machine. The
fallback is never silent: it is logged as a prominent warning and recorded in
the run's tags (``dataset.fallback``, ``dataset.fallback_reason``). It is taken
only when MNIST's files are missing and cannot be downloaded: a damaged file
stops the run, as with ``dataset=mnist``, which never falls back and says where
to put the files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.io.download import DEFAULT_TIMEOUT
from digit_experiments.dataset.sources.embedded import load_embedded
from digit_experiments.dataset.sources.mnist import load_mnist
from digit_experiments.core.errors import DataMissing

log = logging.getLogger(__name__)


@SOURCES.register("auto")
def load_auto(
    data_dir: Path,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SourceData:
    """Load MNIST (downloading it if needed), or fall back loudly to the embedded digits.

    Args:
        data_dir: Root data directory.
        download: Try the MNIST mirrors when files are missing.
        mirrors: Base URLs to download from (default: the public mirrors).
        timeout: Seconds before an unresponsive mirror is given up.

    Returns:
        The ``mnist`` source, or the ``embedded`` one with the fallback noted.

    Raises:
        DataError: when an MNIST file is there but damaged (naming it and both checksums).
    """
    try:
        source = load_mnist(data_dir, download=download, mirrors=mirrors, timeout=timeout)
    except DataMissing as error:
        log.warning(
            "DATASET FALLBACK: MNIST is not available, so this run trains on the small embedded scikit-learn "
            "digits set (1,797 8x8 images) instead; its scores are NOT comparable with MNIST results. "
            "Reason: %s Use `dataset=mnist` to fail instead of falling back.",
            error,
        )
        source = load_embedded(data_dir)
        source.notes.update({"dataset.fallback": "embedded", "dataset.fallback_reason": str(error)[:500]})
    source.notes["dataset.auto"] = source.name
    return source
