"""Training callbacks, built by name from the ``callbacks`` config group.

The group is a mapping ``{callback name: options}``; set an entry to ``null``
to switch it off (``callbacks.early_stopping=null``). Early stopping and
learning-rate reduction are Keras's own classes, so every Keras option
(``mode``, ``baseline``, ``start_from_epoch``, ``verbose``, ...) is a config
key. The non-finite-loss
guard is always on: a NaN or infinite loss stops training at once.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.core.errors import TrainingDiverged
from digit_experiments.core.registry import Registry, plain

CALLBACKS = Registry("callback", "callbacks")

#: Where ModelCheckpoint keeps the best model, relative to the run's output directory.
CHECKPOINT_FILE = Path("checkpoints") / "best.keras"
#: Where the resume state (weights, optimizer, epoch, callback counters) lives while a run trains.
BACKUP_DIR = Path("backup")
#: Counters of the stateful callbacks (early stopping, LR reduction, checkpoint) that a resume restores.
_STATE_ATTRIBUTES = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")


CALLBACKS.register("early_stopping")(keras.callbacks.EarlyStopping)
CALLBACKS.register("reduce_lr_on_plateau")(keras.callbacks.ReduceLROnPlateau)


@CALLBACKS.register("model_checkpoint")
def build_model_checkpoint(
    output_dir: Path,
    monitor: str = "val_loss",
    mode: str = "auto",
    verbose: int = 0,
    save_freq: str | int = "epoch",
    initial_value_threshold: float | None = None,
) -> keras.callbacks.Callback:
    """Keras's ModelCheckpoint keeping the best model in ``<output_dir>/checkpoints/best.keras``.

    The one factory among the callbacks: the path and ``save_best_only`` belong
    to the run (a resume and the final scoring read that file); every other
    ModelCheckpoint option passes through.
    """
    path = output_dir / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.ModelCheckpoint(
        str(path), monitor=monitor, mode=mode, verbose=verbose, save_best_only=True, save_freq=save_freq,
        initial_value_threshold=initial_value_threshold,
    )


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


def _run_context(name: str, output_dir: Path) -> dict[str, Any]:
    """What the run itself gives a callback builder: the output directory, to factories that ask for it."""
    return {"output_dir": output_dir} if "output_dir" in inspect.signature(CALLBACKS.get(name)).parameters else {}


def check_callbacks(config: Mapping[str, Any] | None) -> None:
    """Fail early on an unknown callback name or option, listing the valid ones."""
    for name, options in plain(config).items():
        if options is not None:
            CALLBACKS.check_arguments(name, options.keys())


def build_callbacks(config: Mapping[str, Any] | None, output_dir: Path) -> list[keras.callbacks.Callback]:
    """The enabled callbacks of the ``callbacks`` config, then the non-finite-loss guard."""
    callbacks = [
        CALLBACKS.build(name, **options, **_run_context(name, output_dir))
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
