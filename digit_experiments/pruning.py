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
import math
from pathlib import Path
from typing import Any, Mapping

import keras
import optuna

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


def build_pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner named by ``spec["type"]`` with the remaining keys as its arguments."""
    options = dict(spec)
    kind = options.pop("type", "median")
    if kind not in PRUNERS:
        raise ValueError(f"Unknown pruner {kind!r} in hydra.sweeper.pruner; choose one of {', '.join(PRUNERS)}.")
    return PRUNERS[kind](**options)


def prepare_storage(storage: str) -> str:
    """Create the folder of a relative or absolute SQLite study database; return ``storage`` unchanged.

    SQLAlchemy does not create missing folders, and a first search would fail
    with an opaque "unable to open database file".
    """
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        Path(storage[len(prefix):]).absolute().parent.mkdir(parents=True, exist_ok=True)
    return storage


def open_trial(storage: str, study_name: str, trial_id: int) -> optuna.Trial:
    """Reopen a running trial of a study kept in RDB storage (another process asked for it).

    Optuna stores no pruner in the database: the sweeper saves its spec as a
    study user attribute, and the same pruner is rebuilt here.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    study.pruner = build_pruner(study.user_attrs.get(PRUNER_ATTR, {"type": "median"}))
    return optuna.Trial(study, trial_id)


class OptunaPruningCallback(keras.callbacks.Callback):
    """Report ``monitor`` to an Optuna trial each epoch; stop training when it should be pruned.

    Args:
        trial: The running trial.
        monitor: The epoch log key to report (e.g. ``val_accuracy``).

    Attributes:
        pruned_at_epoch: The 1-based epoch after which training was pruned, or None.
    """

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned_at_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned_at_epoch = epoch + 1
            self.model.stop_training = True
            log.info("Optuna trial %d pruned after epoch %d (%s=%.4f).", self.trial.number, epoch + 1, self.monitor, value)


def pruning_callback(optuna_config: Mapping[str, Any] | None, monitor: str) -> OptunaPruningCallback | None:
    """The pruning callback for a job of an Optuna search, or None outside one."""
    if not optuna_config:
        return None
    trial = open_trial(optuna_config["storage"], optuna_config["study_name"], int(optuna_config["trial_id"]))
    return OptunaPruningCallback(trial, monitor)
