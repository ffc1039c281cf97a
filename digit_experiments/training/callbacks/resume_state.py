"""What a killed run needs to resume: weights, optimizer, epoch and the callbacks' counters."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.core.errors import UserError

#: Where the resume state (weights, optimizer, epoch, callback counters) lives while a run trains.
BACKUP_DIR = Path("backup")
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
