"""Where data, caches, outputs and MLflow runs live.

Precedence for the data directory (highest first): the ``paths.data_dir``
override, the ``DIGITS_DATA_DIR`` environment variable, ``./data``. The config
in ``conf/paths/default.yaml`` encodes that order with ``oc.env``; the helpers
here only turn the result into absolute paths.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DIGITS_CACHE_DIR"
DATA_ENV = "DIGITS_DATA_DIR"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Expand ``~`` and make ``path`` absolute relative to the working directory."""
    return Path(path).expanduser().absolute()


def default_cache_dir() -> Path:
    """The cache directory: ``$DIGITS_CACHE_DIR`` or the user's cache folder.

    The cache is kept outside the data directory because that one may be
    read-only (a shared mount, a CI checkout).
    """
    if os.environ.get(CACHE_ENV):
        return resolve(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return resolve(base) / "digit_experiments"
