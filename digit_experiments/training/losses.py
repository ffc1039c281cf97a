"""The training loss: cross-entropy on integer labels, optionally with label smoothing.

Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing`` option
(only the one-hot ``CategoricalCrossentropy`` has), and the pipelines yield
integer labels; :class:`SmoothedSparseCrossentropy` one-hot encodes them and
applies Keras's smoothed loss.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="digit_experiments")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing, for integer labels.

    Args:
        label_smoothing: Share of each target's probability spread over all classes.
        num_classes: Number of classes (the width of the model's output).
    """

    def __init__(self, label_smoothing: float = 0.1, num_classes: int = 10, name: str = "smoothed_sparse_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,)), self.num_classes)
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "num_classes": self.num_classes}


def training_loss(label_smoothing: float = 0.0) -> keras.losses.Loss | str:
    """Keras's plain sparse cross-entropy, or the smoothed one when ``label_smoothing`` > 0."""
    return SmoothedSparseCrossentropy(label_smoothing) if label_smoothing else "sparse_categorical_crossentropy"
