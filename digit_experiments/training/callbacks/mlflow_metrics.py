"""Per-epoch metrics and the learning rate, recorded in the run's tracking journal."""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras
import numpy as np

from digit_experiments.tracking import RunJournal


class MlflowMetricsLogger(keras.callbacks.Callback):
    """Record every epoch's metrics and the learning rate in the run's journal (which delivers them to MLflow).

    Steps are epoch indices (0-based), so a resumed run continues the same
    series without gaps or duplicates.

    Args:
        recorder: The run's journal.
        logged_through: The last epoch already in the run (resumed runs). An epoch
            repeated because the process died between logging it and backing it up
            is not logged twice.
    """

    def __init__(self, recorder: RunJournal, logged_through: int = -1) -> None:
        super().__init__()
        self.recorder = recorder
        self.logged_through = logged_through

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch <= self.logged_through:
            return
        metrics = {key: float(value) for key, value in (logs or {}).items() if np.isscalar(value) or np.ndim(value) == 0}
        metrics.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.recorder.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
