"""A content-addressed cache of numpy arrays.

Expensive, deterministic results (standardised datasets, the static augmented
copy of a training set) are stored under a key derived from everything they
depend on: source-file checksums, settings and seeds. A changed input gives a
new key, so stale entries are never read; writes are atomic so an interrupted
run never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from digit_experiments.core.paths import default_cache_dir

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable hex digest of a JSON-serialisable description of the inputs."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_arrays(
    namespace: str,
    key_parts: Mapping[str, Any],
    compute: Callable[[], Arrays],
    cache_dir: Path | None = None,
) -> tuple[Arrays, bool]:
    """Load arrays for ``key_parts`` from the cache, computing and storing them on a miss.

    Args:
        namespace: Sub-folder of the cache, e.g. ``"sources"`` or ``"augment"``.
        key_parts: Everything the arrays depend on.
        compute: Called on a miss; returns the arrays to store.
        cache_dir: Root of the cache (default: :func:`default_cache_dir`).

    Returns:
        The arrays and whether they came from the cache.
    """
    folder = (cache_dir or default_cache_dir()) / namespace
    path = folder / f"{cache_key(key_parts)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}, True
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # truncated, empty or foreign: recompute
            log.warning("Ignoring unreadable cache entry %s (%s); recomputing.", path, error)
    arrays = compute()
    _save_atomically(path, arrays)
    return arrays, False


def _save_atomically(path: Path, arrays: Arrays) -> None:
    """Write ``arrays`` to ``path`` via a temp file and rename; warn (not fail) if unwritable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temp_name, path)
    except OSError as error:
        log.warning("Could not write cache entry %s (%s); continuing without cache.", path, error)
