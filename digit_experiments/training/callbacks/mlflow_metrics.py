"""Per-epoch metrics and the learning rate, logged to the active MLflow run."""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras
import mlflow
import numpy as np


class MlflowMetricsLogger(keras.callbacks.Callback):
    """Log every epoch's metrics and the learning rate to the active MLflow run.

    Steps are epoch indices (0-based), so a resumed run continues the same
    series without gaps or duplicates.

    Args:
        logged_through: The last epoch already in the run (resumed runs). An epoch
            repeated because the process died between logging it and backing it up
            is not logged twice.
    """

    def __init__(self, logged_through: int = -1) -> None:
        super().__init__()
        self.logged_through = logged_through

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch <= self.logged_through:
            return
        metrics = {key: float(value) for key, value in (logs or {}).items() if np.isscalar(value) or np.ndim(value) == 0}
        metrics.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)
