"""Cache the standardised arrays of a source, so the second run loads in seconds.

Decoding and standardising a source (107,730 PNGs for not_mnist) is the slow
part of loading. The result is stored with :func:`digit_experiments.core.array_cache.cached_arrays`
under a key made of the sha256 of every input file, the loader's options and
version, and the standardisation settings: a changed file or setting gives a
new key, so a stale entry is never read. The cache lives outside the data
directory (``$DIGITS_CACHE_DIR``), which may be read-only.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping

import numpy as np

from digit_experiments.core.array_cache import Arrays, cached_arrays
from digit_experiments.dataset.io.bad_input import warn_skipped
from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.standardise import SETTINGS

log = logging.getLogger(__name__)

NAMESPACE = "sources"
_SPLITS = ("train_images", "train_labels", "test_images", "test_labels")


def load_standardised(
    name: str,
    checksums: Mapping[str, str],
    settings: Mapping[str, Any],
    build: Callable[[], SourceData],
) -> SourceData:
    """Return a source's standardised data from the cache, building and storing it on a miss.

    Args:
        name: The source's registry name.
        checksums: ``{file: sha256}`` of every input file; part of the key and
            returned as the source's checksums.
        settings: Everything else the arrays depend on: the loader's version
            and the options that change its output.
        build: Reads, decodes and standardises the source (only on a miss).

    Returns:
        The source, with a ``dataset.cache.<name>`` note saying whether it came
        from the cache and how long loading took.
    """
    started = time.perf_counter()
    key = {"source": name, "checksums": dict(checksums), "settings": dict(settings), "standardise": SETTINGS}
    arrays, hit = cached_arrays(NAMESPACE, key, lambda: _pack(build()))
    seconds = time.perf_counter() - started
    source = SourceData(
        name=name,
        **{split: arrays[split] for split in _SPLITS},
        checksums=dict(checksums),
        notes=json.loads(str(arrays["notes"])),
    )
    how = "loaded from the cache" if hit else "decoded and standardised"
    log.info(
        "%s: %d train + %d test images %s in %.1f s",
        name,
        len(source.train_labels),
        len(source.test_labels),
        how,
        seconds,
    )
    warn_skipped(name, source.notes)
    source.notes[f"dataset.cache.{name}"] = f"{'hit' if hit else 'miss'} ({seconds:.1f} s)"
    return source


def _pack(source: SourceData) -> Arrays:
    """The arrays stored for a source: its four splits and its notes as a JSON string."""
    arrays = {split: getattr(source, split) for split in _SPLITS}
    arrays["notes"] = np.array(json.dumps(source.notes))
    return arrays
