"""Where data, caches, outputs and MLflow runs live.

Precedence for the data directory (highest first): the ``paths.data_dir``
override, the ``DIGITS_DATA_DIR`` environment variable, ``./data``. The config
in ``conf/paths/default.yaml`` encodes that order with ``oc.env``; the helpers
here only turn the result into absolute paths.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_ENV = "DIGITS_CACHE_DIR"
#: What a training run writes into its output directory besides Hydra's own files
#: (``tracking`` is its MLflow journal, :data:`digit_experiments.tracking.journal.JOURNAL_DIR`).
RUN_OUTPUTS = ("checkpoints", "backup", "mlflow_model", "tracking")


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


def set_aside_previous_outputs(output_dir: Path) -> Path | None:
    """Move an earlier run's checkpoint, backup, model and journal out of the way of a new run in ``output_dir``.

    Two runs pointed at the same folder (a fixed ``hydra.run.dir``, a rerun of
    a sweep) would otherwise overwrite the first one's best checkpoint, resume
    from its backup without being asked to, fail when logging the model, or
    append the new run's records to the first one's journal (which ``sync``
    would then send to the first run). The files go to
    ``<output_dir>/previous-<time>/``, where ``sync`` still finds any records
    the first run left unsent, and the log says so. ``train.log`` goes on, and
    Hydra rewrites ``.hydra/`` for the new run (the first run's config is in its MLflow run).

    Returns:
        The folder they were moved to, or None when there was nothing to move.
    """
    found = [output_dir / name for name in RUN_OUTPUTS if (output_dir / name).exists()]
    if not found:
        return None
    destination = output_dir / time.strftime("previous-%Y%m%d-%H%M%S")
    suffix = 1
    while destination.exists():
        destination = output_dir / f"{destination.name.split('.')[0]}.{suffix}"
        suffix += 1
    destination.mkdir(parents=True)
    for path in found:
        path.rename(destination / path.name)
    log.warning(
        "Output folder %s already held an earlier run's files (%s); moved them to %s. "
        "Pass resume=<run id or folder> to continue that run instead; `python -m digit_experiments.sync <that folder>` "
        "sends any tracking records it left unsent.",
        output_dir, ", ".join(path.name for path in found), destination,
    )
    return destination
