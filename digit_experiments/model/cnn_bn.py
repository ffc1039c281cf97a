"""``cnn_bn``: the seed's convolutional network with batch normalisation and dropout.

Three blocks of two 3×3 convolutions (each followed by batch normalisation), a
2×2 max-pool and spatial dropout; then a wide L2-regularised dense layer with
batch normalisation and dropout, and a softmax over the 10 digits. With the
default settings it has 934,064 parameters.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, regularizers

from digit_experiments.model.builder import MODELS, NUM_CLASSES, model_inputs


@MODELS.register("cnn_bn")
def build_cnn_bn(
    filters: Sequence[int] = (32, 96, 128),
    paddings: Sequence[str] = ("valid", "valid", "same"),
    kernel_size: int = 3,
    convs_per_block: int = 2,
    conv_dropout: float = 0.2,
    dense_units: int = 1050,
    dense_dropout: float = 0.5,
    l2: float = 1e-4,
    bn_momentum: float = 0.9,
    deskew: bool = False,
) -> keras.Model:
    """Build the seed CNN.

    Args:
        filters: Filters of each convolutional block.
        paddings: Padding of each block's convolutions ("valid" or "same").
        kernel_size: Side of the square convolution kernels.
        convs_per_block: Convolution + batch-norm pairs in each block.
        conv_dropout: SpatialDropout2D rate after each block (sweep key ``model.conv_dropout``).
        dense_units: Width of the dense layer.
        dense_dropout: Dropout rate after the dense layer (sweep key ``model.dense_dropout``).
        l2: L2 factor on the dense layer's kernel (sweep key ``model.l2``).
        bn_momentum: Momentum of the batch-normalisation moving statistics used at
            inference. Keras's default, 0.99, averages over about 100 steps: a run of a
            few hundred steps (a smoke run, a small dataset, the first epochs of MNIST
            at batch 384) then validates with statistics that still remember their
            initial values, and scores near chance. 0.9 averages over about 10 steps.
        deskew: Straighten each input digit's slant first (no parameters; see
            :mod:`digit_experiments.model.deskew`).

    Returns:
        An uncompiled Keras model.
    """
    if len(filters) != len(paddings):
        raise ValueError(f"model.filters has {len(filters)} blocks but model.paddings has {len(paddings)}")
    inputs, x = model_inputs(deskew)
    for block, (block_filters, padding) in enumerate(zip(filters, paddings), start=1):
        for conv in range(1, convs_per_block + 1):
            x = layers.Conv2D(
                block_filters, kernel_size, padding=padding, activation="relu", name=f"block{block}_conv{conv}"
            )(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"block{block}_bn{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.SpatialDropout2D(conv_dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        dense_units, activation="relu", kernel_regularizer=regularizers.L2(l2), name="dense"
    )(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="dense_bn")(x)
    x = layers.Dropout(dense_dropout, name="dense_dropout")(x)
    # float32 output keeps the softmax and loss stable under mixed precision.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="digit")(x)
    return keras.Model(inputs, outputs, name="cnn_bn")
