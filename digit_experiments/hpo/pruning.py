"""Optuna pruning inside Keras training: stop a bad trial early, from inside the job.

The Optuna sweeper (``hydra_plugins/digit_experiments_optuna``) passes each
job ``optuna.storage``, ``optuna.study_name`` and ``optuna.trial_id``. The job
reopens its trial in the shared study storage, reports the monitored metric
after every epoch, and stops training as soon as the study's pruner says so.
The MLflow run then ends FINISHED with the tag ``trial.state=PRUNED``, and
:class:`optuna.TrialPruned` tells the sweeper to record the trial as pruned.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

import optuna
import sqlalchemy

log = logging.getLogger(__name__)


PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}
#: Study user attribute holding the pruner spec, so every process prunes alike.
PRUNER_ATTR = "pruner"
#: Seconds a worker waits for another worker's lock on a SQLite study database.
SQLITE_LOCK_TIMEOUT = 60
#: How often a worker tries to open a study database another worker is creating.
SCHEMA_ATTEMPTS = 5


def build_pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner named by ``spec["type"]`` with the remaining keys as its arguments."""
    options = dict(spec)
    kind = options.pop("type", "median")
    if kind not in PRUNERS:
        raise ValueError(f"Unknown pruner {kind!r} in hydra.sweeper.pruner; choose one of {', '.join(PRUNERS)}.")
    return PRUNERS[kind](**options)


def open_storage(storage: str) -> optuna.storages.BaseStorage | str:
    """The study storage behind ``storage``, safe to open from several workers at once.

    For an SQLAlchemy URL this is an :class:`optuna.storages.RDBStorage`:

    * a SQLite database's folder is created (SQLAlchemy does not create it,
      and a first search would fail with "unable to open database file");
    * SQLite waits up to :data:`SQLITE_LOCK_TIMEOUT` seconds for a lock held by
      another worker instead of failing with "database is locked";
    * workers of one search that start together all try to create Optuna's
      tables in a new database; the losers get an integrity error, and open it
      again (up to :data:`SCHEMA_ATTEMPTS` times) once the tables exist.

    Any other storage string (e.g. a journal file) is returned unchanged.
    """
    if "://" not in storage:
        return storage
    engine_kwargs = {}
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).absolute().parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT}}
    for attempt in range(1, SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.SQLAlchemyError:
            log.debug("Study storage %s is being created by another worker; retrying.", storage)
            time.sleep(0.5 * attempt)
    return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)


def open_trial(storage: str, study_name: str, trial_id: int) -> optuna.Trial:
    """Reopen a running trial of a study kept in RDB storage (another process asked for it).

    Optuna stores no pruner in the database: the sweeper saves its spec as a
    study user attribute, and the same pruner is rebuilt here.
    """
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    study.pruner = build_pruner(study.user_attrs.get(PRUNER_ATTR, {"type": "median"}))
    return optuna.Trial(study, trial_id)


