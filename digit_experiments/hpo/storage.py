"""The Optuna study storage that the sweeper and its jobs share, and a job's trial in it.

The Optuna sweeper (``hydra_plugins/digit_experiments_optuna``) keeps its
study in a database and passes each job ``optuna.storage``,
``optuna.study_name`` and ``optuna.trial_id``. The job reopens its trial there
(:func:`open_trial`) to report the monitored metric after every epoch and stop
as soon as the study's pruner says so; :class:`optuna.TrialPruned` then tells
the sweeper to record the trial as pruned. Several workers, and the jobs of
each, open one database at once: :func:`open_storage` makes that safe.

Clusters with a shared filesystem but no database server keep the study in
Optuna's journal file instead (``journal:<path>``), which workers on several
machines append to under a file lock.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
import sqlalchemy

from digit_experiments.hpo.pruners import DEFAULT_PRUNER, PRUNER_ATTR, build_pruner

log = logging.getLogger(__name__)

#: Seconds a worker waits for another worker's lock on a SQLite study database.
SQLITE_LOCK_TIMEOUT = 60
#: How often a worker tries to open a study database another worker is creating.
SCHEMA_ATTEMPTS = 5
#: Prefix of a storage kept in Optuna's journal file: ``journal:/shared/studies/search.log``.
JOURNAL_PREFIX = "journal:"


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

    ``journal:<path>`` is an :class:`optuna.storages.JournalStorage` on that
    file (its folder created), for a filesystem that every worker shares.

    Args:
        storage: ``hydra.sweeper.storage``: an SQLAlchemy URL (SQLite,
            PostgreSQL, MySQL), ``journal:<path>``, or any other storage string
            Optuna accepts.

    Returns:
        The storage for :func:`optuna.create_study` / :func:`optuna.load_study`;
        another string is returned unchanged.
    """
    if storage.startswith(JOURNAL_PREFIX):
        path = Path(storage[len(JOURNAL_PREFIX):]).expanduser().absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
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
    """Reopen a running trial of a study kept in shared storage (another process asked for it).

    Optuna stores no pruner in the database: the sweeper saves its spec as a
    study user attribute (:data:`~digit_experiments.hpo.pruners.PRUNER_ATTR`),
    and the same pruner is rebuilt here.

    Args:
        storage: The study storage (``optuna.storage`` of the job's config).
        study_name: The study (``optuna.study_name``).
        trial_id: The trial's storage id (``optuna.trial_id``), not its number.

    Returns:
        The trial, ready for ``report`` and ``should_prune``.
    """
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    study.pruner = build_pruner(study.user_attrs.get(PRUNER_ATTR, {"name": DEFAULT_PRUNER}))
    return optuna.Trial(study, trial_id)


