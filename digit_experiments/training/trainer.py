"""Runtime set-up and the Keras fit: seeds, precision, threads, compile, train."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any, Sequence

import keras
import tensorflow as tf

from digit_experiments.training.losses import training_loss
from digit_experiments.training.strategy import split_cpu

log = logging.getLogger(__name__)


def configure_runtime(seed: int, precision: str = "float32", threads: int | None = None, cpu_devices: int | None = None) -> None:
    """Seed every random generator and set the precision policy, thread counts and CPU devices.

    Must run before TensorFlow executes its first op: thread counts cannot
    change afterwards.

    Args:
        seed: Seeds Python's, NumPy's and TensorFlow's generators.
        precision: A Keras dtype policy: ``float32`` or ``mixed_bfloat16``
            (``mixed_float16`` only pays off on GPUs).
        threads: Intra-op threads (and 1 inter-op thread) so parallel jobs
            share the cores; ``None`` or 0 keeps TensorFlow's default.
        cpu_devices: Split the CPU into this many logical devices
            (:func:`~digit_experiments.training.strategy.split_cpu`).
    """
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            log.warning("TensorFlow already started; trainer.threads=%s not applied.", threads)
    split_cpu(cpu_devices)
    keras.backend.clear_session()  # forget models of earlier jobs in this process (sweeps, tests)
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0) -> keras.Model:
    """Compile for integer labels with accuracy as the metric (and label smoothing when asked)."""
    model.compile(optimizer=optimizer, loss=training_loss(label_smoothing), metrics=["accuracy"])
    return model


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: Any = "auto",
) -> keras.callbacks.History:
    """Train with Keras's own loop and progress output (see :func:`keras_verbosity`); ``validation`` is None in a refit."""
    return model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=keras_verbosity(verbose),
        shuffle=False,  # the tf.data pipeline shuffles
    )


def keras_verbosity(verbose: Any) -> Any:
    """Keras's ``verbose`` for ``trainer.verbose``: ``auto`` becomes a progress bar in a terminal, one line per epoch elsewhere.

    Keras 3 treats every POSIX stdout as a live terminal, so with its own ``auto``
    a log file, CI output or a SLURM log receives every step's redraw of the bar
    (about a megabyte per 20 MNIST epochs, unreadable). Parallel sweep jobs that
    share a terminal get ``log`` from the train command: Keras is silent, and the run logs
    one line per epoch, labelled with its job. An explicit 0, 1 or 2 is passed through.

    Args:
        verbose: ``trainer.verbose``.

    Returns:
        ``verbose``, 1 or 2 in place of ``auto``, or 0 for ``log``.
    """
    if verbose == "log":  # the run's own epoch lines instead (callbacks.epoch_log.EpochLog)
        return 0
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def training_batch_size(requested: int, train_images: int, min_steps_per_epoch: int | None) -> int:
    """The batch size to train with: ``requested``, made smaller when an epoch would have too few steps.

    With 1,456 images (the embedded set) at batch 384 an epoch is 4 optimizer
    steps: the model and its batch-norm statistics barely move per epoch, and
    early stopping judges epochs that hardly differ. Capping the batch so an
    epoch has at least ``min_steps_per_epoch`` steps leaves MNIST-sized data
    (141 steps at 384) untouched.
    """
    if not min_steps_per_epoch or math.ceil(train_images / requested) >= min_steps_per_epoch:
        return requested
    return max(1, min(requested, train_images // min_steps_per_epoch))
