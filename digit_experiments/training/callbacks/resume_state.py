"""What a killed run needs to resume: weights, optimizer, epoch and the callbacks' counters, or its trained model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.core.errors import UserError

#: Where the resume state (weights, optimizer, epoch, callback counters) lives while a run trains.
BACKUP_DIR = Path("backup")
#: The model training ended with, kept from the end of training until the run has finished. Keras
#: deletes its own backup when ``fit`` returns, so a run interrupted while it scored its test sets,
#: drew its plots or uploaded its model trained again from epoch 1 when resumed; it resumes from this
#: and the training history beside it (:func:`keep_trained`).
TRAINED_MODEL = BACKUP_DIR / "trained.keras"
#: Counters of the stateful callbacks (early stopping, LR reduction, checkpoint) that a resume restores.
_STATE_ATTRIBUTES = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")


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
        try:
            states = json.loads(self.path.read_text())
        except ValueError as error:  # bad JSON, or bytes that are not text
            raise UserError(
                f"{self.path} is damaged ({error}), so the counters of early stopping, learning-rate reduction and "
                "the checkpoint cannot be restored. Delete that file and resume again to continue with fresh "
                "counters (patience and the best value start over), or start the run anew."
            ) from None
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


def keep_trained(model: keras.Model, history: Mapping[str, list[float]], path: Path) -> None:
    """Keep the model training ended with, and its per-epoch history, at ``path`` until the run finishes.

    The history goes beside the model as ``<path>.history.json``; the model is
    written last and atomically, so its presence means both are whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".history.json").write_text(json.dumps({key: [float(v) for v in values] for key, values in history.items()}))
    partial = path.with_name(f"partial-{path.name}")
    model.save(partial)
    os.replace(partial, path)


def load_trained(path: Path) -> tuple[keras.Model, dict[str, list[float]]]:
    """The model and history :func:`keep_trained` kept at ``path``."""
    return keras.models.load_model(path), json.loads(path.with_suffix(".history.json").read_text())


def discard_resume_state(output_dir: Path) -> None:
    """Delete ``<output_dir>/backup`` once the run has finished: nothing is left to resume."""
    shutil.rmtree(output_dir / BACKUP_DIR, ignore_errors=True)
