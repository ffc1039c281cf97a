"""One log line per epoch: in the run's ``train.log`` always, and on the console for parallel sweep jobs."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Iterator, Mapping

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


@contextlib.contextmanager
def keras_messages_logged(label: str | None) -> Iterator[None]:
    """Send Keras's own callback messages to the run's log, labelled, for as long as the block runs.

    ``EarlyStopping`` ("Epoch 12: early stopping", "Restoring model weights from
    the end of the best epoch: 8.") and ``ReduceLROnPlateau`` print their lines
    to stdout, where parallel jobs' lines could not be told apart and
    ``train.log`` never saw them. With Keras's interactive logging off they go
    to absl's logger instead; a filter there re-logs each through this module's
    logger with the job's label (console and ``train.log``, like the epoch
    lines) and drops the original. Both are undone on leaving, even after an
    interrupt, so a later job in the same worker process is not affected.
    (Keras keeps the interactive flag per thread; ``fit`` runs its callbacks in
    the calling thread.)

    Args:
        label: What each line starts with (``job 3``), or None.
    """
    relay = _Relabel(label)
    absl_logger = logging.getLogger("absl")
    was_interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    absl_logger.addFilter(relay)
    try:
        yield
    finally:
        absl_logger.removeFilter(relay)
        if was_interactive:
            keras.config.enable_interactive_logging()


class _Relabel(logging.Filter):
    """Re-log an absl record through the module's logger, prefixed with the job's label, and drop the original."""

    def __init__(self, label: str | None) -> None:
        super().__init__()
        self.prefix = f"{label}: " if label else ""

    def filter(self, record: logging.LogRecord) -> bool:
        log.log(record.levelno, "%s%s", self.prefix, record.getMessage().strip())  # Keras starts some with a newline
        return False
