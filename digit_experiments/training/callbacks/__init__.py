"""Training callbacks, built by name from the ``callbacks`` config group; one callback per module.

The group is a mapping ``{callback name: options}``; set an entry to ``null``
to switch it off (``callbacks.early_stopping=null``). Early stopping and
learning-rate reduction are Keras's own classes, so every Keras option
(``mode``, ``baseline``, ``start_from_epoch``, ``verbose``, ...) is a config
key. The non-finite-loss guard is always on: a NaN or infinite loss stops
training at once. So is the signal guard: after SIGTERM, SIGHUP or Ctrl-C,
training stops at the next batch even if Python lost the interrupt.

Modules: :mod:`.checkpoint` (the best model of a run), :mod:`.non_finite_loss`, :mod:`.stop_on_signal`,
:mod:`.resume_state` (what a resumed run needs), :mod:`.mlflow_metrics`
(per-epoch metrics to MLflow), :mod:`.epoch_log` (one line per epoch in ``train.log``)
and :mod:`.optuna_pruning` (stop a bad trial).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Mapping

import keras

from digit_experiments.core.registry import Registry, plain
from digit_experiments.training.callbacks.checkpoint import CHECKPOINT_FILE, build_model_checkpoint
from digit_experiments.training.callbacks.non_finite_loss import StopOnNonFiniteLoss
from digit_experiments.training.callbacks.resume_state import (
    BACKUP_DIR, TRAINED_MODEL, discard_resume_state, keep_trained, load_trained, with_resume_state,
)
from digit_experiments.training.callbacks.stop_on_signal import StopOnSignal

CALLBACKS = Registry("callback", "callbacks")
CALLBACKS.register("early_stopping")(keras.callbacks.EarlyStopping)
CALLBACKS.register("reduce_lr_on_plateau")(keras.callbacks.ReduceLROnPlateau)
CALLBACKS.register("model_checkpoint")(build_model_checkpoint)

__all__ = [
    "BACKUP_DIR", "CALLBACKS", "CHECKPOINT_FILE", "TRAINED_MODEL", "StopOnSignal", "build_callbacks", "check_callbacks",
    "discard_resume_state", "keep_trained", "load_trained", "with_resume_state",
]


def _run_context(name: str, output_dir: Path) -> dict[str, Any]:
    """What the run itself gives a callback builder: the output directory, to factories that ask for it."""
    return {"output_dir": output_dir} if "output_dir" in inspect.signature(CALLBACKS.get(name)).parameters else {}


def check_callbacks(config: Mapping[str, Any] | None) -> None:
    """Fail early on an unknown callback name or option, listing the valid ones."""
    for name, options in plain(config).items():
        if options is not None:
            CALLBACKS.check_arguments(name, options.keys())


def build_callbacks(config: Mapping[str, Any] | None, output_dir: Path) -> list[keras.callbacks.Callback]:
    """The enabled callbacks of the ``callbacks`` config, then the non-finite-loss and signal guards."""
    callbacks = [
        CALLBACKS.build(name, **options, **_run_context(name, output_dir))
        for name, options in plain(config).items()
        if options is not None
    ]
    return callbacks + [StopOnNonFiniteLoss(), StopOnSignal()]
