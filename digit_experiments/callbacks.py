"""Training callbacks, built by name from the ``callbacks`` config group.

The group is a mapping ``{callback name: options}``; set an entry to ``null``
to switch it off (``callbacks.early_stopping=null``). The non-finite-loss
guard is always on: a NaN or infinite loss stops training at once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.errors import TrainingDiverged
from digit_experiments.registry import Registry, plain

CALLBACKS = Registry("callback", "callbacks")

#: Where ModelCheckpoint keeps the best model, relative to the run's output directory.
CHECKPOINT_FILE = Path("checkpoints") / "best.keras"
#: Where the resume state (weights, optimizer, epoch, callback counters) lives while a run trains.
BACKUP_DIR = Path("backup")
#: Counters of the stateful callbacks (early stopping, LR reduction, checkpoint) that a resume restores.
_STATE_ATTRIBUTES = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")


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


class CallbackStateBackup(keras.callbacks.Callback):
    """Keep the counters of stateful callbacks in a JSON file each epoch; restore them when training resumes.

    ``BackupAndRestore`` brings back weights, optimizer state (learning rate
    included) and the epoch, but not the patience counters and best values of
    ``EarlyStopping``, ``ReduceLROnPlateau`` and ``ModelCheckpoint``. This
    callback must come after them in the list, so that it restores their state
    after their ``on_train_begin`` has reset it.
    """

    def __init__(self, callbacks: list[keras.callbacks.Callback], path: Path) -> None:
        super().__init__()
        self.callbacks = callbacks
        self.path = path

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self.path.exists():
            return
        states = json.loads(self.path.read_text())
        for callback, state in zip(self.callbacks, states):
            for name, value in state.items():
                setattr(callback, name, value)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        states = [
            {name: _plain(getattr(c, name)) for name in _STATE_ATTRIBUTES if _plain(getattr(c, name, None)) is not None}
            for c in self.callbacks
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(states))
        os.replace(partial, self.path)  # atomic: a kill leaves the old file or the new one


def _plain(value: Any) -> int | float | None:
    """A counter or best value as a JSON number; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if isinstance(value, int) else number


def with_resume_state(callbacks: list[keras.callbacks.Callback], output_dir: Path) -> list[keras.callbacks.Callback]:
    """``callbacks`` made resumable from ``<output_dir>/backup`` after a crash or a kill.

    The state is saved at the end of every epoch and deleted when training
    completes; a run restarted on the same output directory continues from the
    last completed epoch.
    """
    backup = output_dir / BACKUP_DIR
    return [
        *callbacks,
        CallbackStateBackup(callbacks, backup / "callback_state.json"),
        keras.callbacks.BackupAndRestore(str(backup), save_freq="epoch", double_checkpoint=True, delete_checkpoint=True),
    ]
