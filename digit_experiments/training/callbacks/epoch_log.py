"""One log line per epoch: in the run's ``train.log`` always, and on the console for parallel sweep jobs."""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import keras

from digit_experiments.core import startup

log = logging.getLogger("digit_experiments.training")


class EpochLog(keras.callbacks.Callback):
    """Log each epoch's metrics and wall time as one line, labelled with the sweep job when there is one.

    Keras prints its epoch lines to stdout only, so ``train.log`` held none and a
    run's progress could not be read from its folder afterwards. Parallel sweep
    jobs sharing a terminal (``trainer.verbose=log``) printed Keras's lines with
    nothing saying which job each came from; there Keras is silent and these lines,
    labelled ``job <n>``, go to the console too.

    Args:
        to_console: Whether the line goes to the console as well as to the log files.
        label: What the line starts with (``job 3``), or None.
    """

    def __init__(self, to_console: bool, label: str | None = None) -> None:
        super().__init__()
        self.to_console, self.label = to_console, label

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = ", ".join(f"{name} {float(value):.4g}" for name, value in (logs or {}).items())
        seconds = time.monotonic() - self._started
        line = f"{self.label + ': ' if self.label else ''}Epoch {epoch + 1}/{self.params['epochs']}: {metrics} ({seconds:.{0 if seconds >= 10 else 1}f} s)"
        if self.to_console:
            log.info("%s", line)
        else:
            startup.log_to_files(log, logging.INFO, line)
