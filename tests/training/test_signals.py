"""SIGTERM, SIGHUP and Ctrl-C during a run: an interrupt Python lost still stops it, and an ignored signal stays ignored.

Real signals sent to this process, a real Keras training and a real SQLite MLflow store; the handlers are restored after each test.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest

from digit_experiments import tracking
from digit_experiments.core import startup
from digit_experiments.training import experiment
from digit_experiments.training.callbacks import TRAINED_MODEL, StopOnSignal
from helpers import run_config


class SignalledWhileFinalised:
    """An object whose ``__del__`` is running when SIGTERM arrives, as TensorFlow's function collector was."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler's KeyboardInterrupt is raised in here: Python prints "Exception ignored" and goes on


class CountBatches(keras.callbacks.Callback):
    """Count the batches trained."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.batches += 1


class SignalAtBatch(CountBatches):
    """Finalise a :class:`SignalledWhileFinalised` after batch 2 of the first epoch; count the batches trained."""

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        super().on_train_batch_end(batch, logs)
        if self.batches == 2:
            SignalledWhileFinalised()


class SignalAtTrainEnd(keras.callbacks.Callback):
    """Finalise a :class:`SignalledWhileFinalised` once training has ended, after the guard's last batch check."""

    def on_train_end(self, logs=None) -> None:
        SignalledWhileFinalised()


def _train(callbacks: list[keras.callbacks.Callback]) -> None:
    """Three epochs of eight batches of a one-layer model on random digits-shaped data."""
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images, labels = rng.random((64, 28, 28, 1), np.float32), rng.integers(0, 10, 64)
    model.fit(images, labels, batch_size=8, epochs=3, callbacks=callbacks, verbose=0)


def test_an_interrupt_lost_in_a_finalizer_stops_training_at_the_next_batch(
    restored_signal_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    startup.interrupt_on_termination_signals()
    unguarded = SignalAtBatch()
    _train([unguarded])
    assert startup.SIGNALS_RECEIVED == [signal.SIGTERM]
    assert unguarded.batches == 24, "without the guard the SIGTERM is lost and all three epochs train"
    told = capsys.readouterr().err
    assert "Received signal 15 while Python was finalising an object; the run stops at the end of the current batch or step." in told
    assert "Traceback" not in told and "Exception ignored" not in told

    guarded = SignalAtBatch()
    with pytest.raises(KeyboardInterrupt) as interrupt:
        _train([guarded, StopOnSignal()])
    assert startup.interrupting_signal(interrupt.value) == signal.SIGTERM
    assert guarded.batches == 2, "the guard raises the lost interrupt at the end of the batch it arrived in"


def test_a_signal_the_process_was_started_ignoring_stays_ignored(restored_signal_handlers: None) -> None:
    """``nohup`` starts a job with SIGHUP ignored so that it outlives its terminal; the handler must not undo that."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    startup.interrupt_on_termination_signals()
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(0.2)
    assert startup.SIGNALS_RECEIVED == []


def test_the_handling_is_installed_once_however_many_sweep_jobs_ask(restored_signal_handlers: None) -> None:
    """Every job of an in-process sweep calls it; the lost-interrupt report must not wrap itself once per job."""
    startup.interrupt_on_termination_signals()
    report = sys.unraisablehook
    startup.interrupt_on_termination_signals()
    assert sys.unraisablehook is report


def test_an_interrupt_lost_after_training_ends_the_run_killed_not_finished(
    data_dir: Path, tmp_path: Path, restored_signal_handlers: None
) -> None:
    """A SIGTERM lost while the run scores its test sets or uploads its model let the run end FINISHED, as if never asked to stop.

    Its resume then trained again from epoch 1 (Keras deletes its backup when ``fit`` returns) and
    logged the retrained model under the first training's metrics; it now scores the model trained.
    """
    startup.interrupt_on_termination_signals()
    overrides = [
        "experiment=smoke", "model=tiny", "augment=none", "epochs=2", "dataset.max_train_images=200",
        "dataset.max_test_images_per_source=50", "trainer.verbose=0",
    ]
    with pytest.raises(KeyboardInterrupt) as interrupt:
        experiment.run(run_config(tmp_path, overrides), extra_callbacks=[SignalAtTrainEnd()])
    assert startup.interrupting_signal(interrupt.value) == signal.SIGTERM
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert run.info.status == "KILLED"
    assert run.data.tags["failure_reason"] == "interrupted (Ctrl-C, SIGTERM or SIGHUP)"
    output_dir = Path(run.data.tags[tracking.OUTPUT_DIR_TAG])
    assert (output_dir / TRAINED_MODEL).exists(), "the run is KILLED, so what training ended with is kept for its resume"

    resumed_training = CountBatches()
    experiment.run(run_config(tmp_path, [*overrides, f"resume={run.info.run_id}"]), extra_callbacks=[resumed_training])
    assert resumed_training.batches == 0, "training had ended: the resume only tests, plots and logs its model"
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1]
    assert not (output_dir / "backup").exists(), "a finished run leaves nothing to resume"
