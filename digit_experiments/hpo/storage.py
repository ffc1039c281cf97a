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

A worker that dies (a lost machine, ``kill -9``) leaves its trial RUNNING.
In a database storage each worker records a heartbeat for the trial it runs
(:class:`Heartbeat`), and a trial whose heartbeat is older than the grace
period is marked FAIL by whichever worker looks next
(:func:`fail_abandoned_trials`), so that a shared search knows which of its
RUNNING trials still have a worker (:func:`watched_study`). Optuna's journal
storage has no heartbeat: there a dead worker's trial stays RUNNING, and no
trial is taken for a live worker's.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.pruners import DEFAULT_PRUNER, PRUNER_ATTR, build_pruner

log = logging.getLogger(__name__)

#: Seconds a worker waits for another worker's lock on a SQLite study database.
SQLITE_LOCK_TIMEOUT = 60
#: How often a worker tries to open a study database another worker is creating.
SCHEMA_ATTEMPTS = 5
#: Prefix of a storage kept in Optuna's journal file: ``journal:/shared/studies/search.log``.
JOURNAL_PREFIX = "journal:"


@dataclass(frozen=True)
class Heartbeat:
    """How a worker shows that the trial it runs is alive: ``hydra.sweeper.heartbeat_interval`` and ``stale_after``.

    Attributes:
        interval: Seconds between two heartbeats of a running trial.
        stale_after: Seconds without a heartbeat after which a trial's worker is taken for dead.
    """

    interval: int
    stale_after: int

    def __post_init__(self) -> None:
        """Refuse settings that would take live workers for dead, or that the storage refuses."""
        if self.interval < 1 or self.stale_after <= self.interval:
            raise ConfigError(
                f"hydra.sweeper.heartbeat_interval={self.interval} and stale_after={self.stale_after} cannot work: a worker "
                "beats every heartbeat_interval seconds (at least 1), and a trial silent for stale_after seconds is "
                "taken for dead, so stale_after must be longer, a few beats at least. Set e.g. "
                "hydra.sweeper.heartbeat_interval=60 hydra.sweeper.stale_after=300 (the defaults)."
            )

    @classmethod
    def of_sweeper(cls, settings: Any) -> Heartbeat:
        """The settings of ``hydra.sweeper`` (a mapping or a config node)."""
        return cls(interval=int(settings["heartbeat_interval"]), stale_after=int(settings["stale_after"]))


def open_storage(storage: str, heartbeat: Heartbeat | None = None) -> optuna.storages.BaseStorage | str:
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
        heartbeat: The heartbeat settings of a worker that runs or watches trials (database
            storages only); None for a job, which only reports to its trial.

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
    options: dict = {"engine_kwargs": {}}
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).absolute().parent.mkdir(parents=True, exist_ok=True)
        options["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT}}
    if heartbeat:
        options.update(heartbeat_interval=heartbeat.interval, grace_period=heartbeat.stale_after,
                       heartbeat_stale_trial_callback=functools.partial(_report_abandoned, heartbeat.stale_after))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat options, stable since Optuna 2.9
        for attempt in range(1, SCHEMA_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(storage, **options)
            except sqlalchemy.exc.SQLAlchemyError:
                log.debug("Study storage %s is being created by another worker; retrying.", storage)
                time.sleep(0.5 * attempt)
        return optuna.storages.RDBStorage(storage, **options)


def fail_abandoned_trials(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials whose worker stopped sending heartbeats (each is logged by :func:`_report_abandoned`).

    Optuna does this itself only inside ``Study.optimize``; the sweeper asks and
    tells, so it calls this before it asks a trial and before it ends a search's
    parent run. A storage without heartbeats (a journal file) fails nothing.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _report_abandoned(stale_after: int, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """The storage's ``heartbeat_stale_trial_callback`` (``stale_after`` bound): say which trial lost its worker."""
    log.warning("Trial %d of study %s had no heartbeat for over %d s: its worker is gone, so it is marked FAIL "
                "(it does not count towards n_trials: a worker still asking trials runs another in its place).", trial.number, study.study_name, stale_after)


def watched_study(storage: str, study_name: str, heartbeat: Heartbeat) -> optuna.Study | None:
    """The study as a worker that watches for dead workers sees it: their trials failed first.

    Args:
        storage: ``hydra.sweeper.storage``.
        study_name: ``hydra.sweeper.study_name``.
        heartbeat: The search's heartbeat settings.

    Returns:
        The study; None when it does not exist, and None for a storage without heartbeats (a
        journal file), where a live worker's trial cannot be told from a dead one's, so that no
        one waits for ever on a trial nobody runs.
    """
    opened = open_storage(storage, heartbeat)
    if not isinstance(opened, optuna.storages.RDBStorage):
        return None
    try:
        study = optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:  # Optuna's "no such study"
        return None
    fail_abandoned_trials(study)
    return study


def trial_numbers(study: optuna.Study | None, state: optuna.trial.TrialState) -> list[int]:
    """The numbers of ``study``'s trials in ``state``; none without a study (see :func:`watched_study`)."""
    if study is None:
        return []
    return [trial.number for trial in study.get_trials(deepcopy=False, states=(state,))]


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


