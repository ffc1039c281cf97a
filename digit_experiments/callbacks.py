"""Training callbacks, built by name from the ``callbacks`` config group.

The group is a mapping ``{callback name: options}``; set an entry to ``null``
to switch it off (``callbacks.early_stopping=null``). The non-finite-loss
guard is always on: a NaN or infinite loss stops training at once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.errors import TrainingDiverged
from digit_experiments.registry import Registry, plain

CALLBACKS = Registry("callback", "callbacks")

#: Where ModelCheckpoint keeps the best model, relative to the run's output directory.
CHECKPOINT_FILE = Path("checkpoints") / "best.keras"


@CALLBACKS.register("early_stopping")
def build_early_stopping(
    output_dir: Path,
    monitor: str = "val_loss",
    patience: int = 8,
    min_delta: float = 0.0,
    restore_best_weights: bool = True,
) -> keras.callbacks.Callback:
    """Stop when ``monitor`` stops improving and restore the best epoch's weights."""
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, min_delta=min_delta, restore_best_weights=restore_best_weights, verbose=1
    )


@CALLBACKS.register("model_checkpoint")
def build_model_checkpoint(output_dir: Path, monitor: str = "val_loss") -> keras.callbacks.Callback:
    """Keep the best model so far in ``<output_dir>/checkpoints/best.keras``."""
    path = output_dir / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.ModelCheckpoint(str(path), monitor=monitor, save_best_only=True, verbose=0)


@CALLBACKS.register("reduce_lr_on_plateau")
def build_reduce_lr_on_plateau(
    output_dir: Path, monitor: str = "val_loss", factor: float = 0.5, patience: int = 3, min_lr: float = 1e-6
) -> keras.callbacks.Callback:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=factor, patience=patience, min_lr=min_lr, verbose=1)


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


def check_callbacks(config: Mapping[str, Any] | None) -> None:
    """Fail early on an unknown callback name or option, listing the valid ones."""
    for name, options in plain(config).items():
        if options is not None:
            CALLBACKS.check_arguments(name, options.keys())


def build_callbacks(config: Mapping[str, Any] | None, output_dir: Path) -> list[keras.callbacks.Callback]:
    """The enabled callbacks of the ``callbacks`` config, then the non-finite-loss guard."""
    callbacks = [
        CALLBACKS.build(name, output_dir=output_dir, **options)
        for name, options in plain(config).items()
        if options is not None
    ]
    return callbacks + [StopOnNonFiniteLoss()]
