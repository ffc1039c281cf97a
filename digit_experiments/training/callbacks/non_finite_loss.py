"""Stop training, and fail the run, at the first NaN or infinite loss."""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras

from digit_experiments.core.errors import TrainingDiverged


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise :class:`TrainingDiverged` as soon as a batch's loss is NaN or infinite.

    Keras's ``TerminateOnNaN`` only sets ``stop_training``, which lets the run
    finish as if it had succeeded; raising marks the run FAILED with the reason.
    """

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"Training diverged: the loss became {float(loss)} at batch {batch}. Lower optimizer.learning_rate, "
                "enable gradient clipping (optimizer.clipnorm) or check the input data for NaNs."
            )
