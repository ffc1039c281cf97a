"""Report the monitored metric to an Optuna trial each epoch, and stop the trial when it should be pruned.

The Optuna sweeper passes each job ``optuna.storage``, ``optuna.study_name``
and ``optuna.trial_id``; the job reopens its trial in the shared storage
(:func:`digit_experiments.hpo.storage.open_trial`).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import keras
import optuna

from digit_experiments.hpo.storage import open_trial

log = logging.getLogger(__name__)


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
