"""``tiny``: a small CNN with the same sweep keys as ``cnn_bn``, for fast tests and smoke runs."""

from __future__ import annotations

import keras
from keras import layers, regularizers

from digit_experiments.model.builder import MODELS, NUM_CLASSES, model_inputs


@MODELS.register("tiny")
def build_tiny(
    filters: int = 8,
    conv_dropout: float = 0.1,
    dense_units: int = 32,
    dense_dropout: float = 0.2,
    l2: float = 1e-4,
    deskew: bool = False,
) -> keras.Model:
    """Build a two-convolution network of a few thousand parameters.

    Args:
        filters: Filters of the first convolution (the second has twice as many).
        conv_dropout: SpatialDropout2D rate after the convolutions.
        dense_units: Width of the dense layer.
        dense_dropout: Dropout rate after the dense layer.
        l2: L2 factor on the dense layer's kernel.
        deskew: Straighten each input digit's slant first.

    Returns:
        An uncompiled Keras model.
    """
    inputs, x = model_inputs(deskew)
    x = layers.Conv2D(filters, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(2 * filters, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.SpatialDropout2D(conv_dropout, name="conv_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=regularizers.L2(l2), name="dense")(x)
    x = layers.Dropout(dense_dropout, name="dense_dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="digit")(x)
    return keras.Model(inputs, outputs, name="tiny")
