"""Keras callbacks the benchmarks time and probe their trainings with, and the timed fit they share.

They live apart from the scripts that use them because subclassing a Keras callback loads
TensorFlow: a script imports this module only once its command line is read, so that its
``--help`` answers at once.
"""

from __future__ import annotations

import time

import keras
import numpy as np


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time and the gaps between epochs (iterator tear-down and set-up)."""

    def on_train_begin(self, logs=None):
        self.times: list[float] = []
        self.gaps: list[float] = []
        self.end: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        if self.end is not None:
            self.gaps.append(self.start - self.end)

    def on_epoch_end(self, epoch, logs=None):
        self.end = time.perf_counter()
        self.times.append(self.end - self.start)


class TestAccuracyProbe(keras.callbacks.Callback):
    """After each epoch: training seconds so far (the probe's own time excluded) and MNIST test accuracy.

    The accuracy is a measurement only: the run never sees it, and selects its epoch on
    validation data as always.

    Args:
        images: The ``(n, 28, 28)`` uint8 test images.
        labels: Their digits.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        super().__init__()
        self.images = images.astype(np.float32)[..., None] / 255.0
        self.labels = labels
        self.epochs: list[dict[str, float]] = []
        self.excluded = 0.0

    def on_train_begin(self, logs=None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        probe_start = time.perf_counter()
        predictions = self.model.predict(self.images, batch_size=1024, verbose=0).argmax(axis=1)
        accuracy = float((predictions == self.labels).mean())
        self.epochs.append({
            "epoch": epoch + 1, "seconds": probe_start - self.start - self.excluded, "test_accuracy": accuracy,
            "val_accuracy": float((logs or {}).get("val_accuracy", float("nan"))),
        })
        self.excluded += time.perf_counter() - probe_start
        print(f"  epoch {epoch + 1}: {self.epochs[-1]['seconds']:.0f} s, MNIST test accuracy {accuracy:.4f}", flush=True)


def timed_fit(model: keras.Model, data, batch_size: int | None) -> float:
    """Compile ``model`` as the seed does and fit it for two epochs; the warm epoch's seconds.

    The first epoch pays for graph building (about 3 s), so only the second is a throughput figure.
    The epochs' times and the gap between them are printed.

    Args:
        model: An uncompiled model.
        data: ``(images, labels)`` arrays, or a batched ``tf.data.Dataset``.
        batch_size: The batch size for arrays; None for a dataset.

    Returns:
        The seconds of the second epoch.
    """
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    if isinstance(data, tuple):
        model.fit(*data, batch_size=batch_size, epochs=2, callbacks=[timer], verbose=0)
    else:
        model.fit(data, epochs=2, callbacks=[timer], verbose=0, shuffle=False)
    print(f"  epochs {', '.join(f'{t:.1f}' for t in timer.times)} s; gap between epochs {timer.gaps[0]:.2f} s", flush=True)
    return timer.times[-1]
