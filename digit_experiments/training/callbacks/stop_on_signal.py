"""Stop training at the next batch after SIGTERM, SIGHUP or Ctrl-C, even when Python lost the interrupt."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from digit_experiments.core import startup


class StopOnSignal(keras.callbacks.Callback):
    """Raise again, at the next batch or epoch end, the interrupt of a signal received during training.

    The signal handler (:func:`~digit_experiments.core.startup.interrupt_on_termination_signals`)
    raises ``KeyboardInterrupt`` in whatever Python code the main thread is running. When
    that is an object's ``__del__`` (TensorFlow's ``ConcreteFunctionGarbageCollector``,
    seen under load), Python prints "Exception ignored in" and carries on: a scheduler's
    SIGTERM once let a run train to its last epoch and end FINISHED. Neither Python nor
    Keras re-raises it, so this callback compares the handler's count of signals with
    the count when training began; an interrupt that did propagate never reaches it.
    """

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._signals_before = len(startup.SIGNALS_RECEIVED)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._raise_if_signalled()

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._raise_if_signalled()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._raise_if_signalled()

    def _raise_if_signalled(self) -> None:
        startup.raise_signal_received_since(self._signals_before)
