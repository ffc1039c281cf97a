"""The model registry and the one function that turns a ``model`` config into a Keras model."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from digit_experiments.core.registry import Registry, plain
from digit_experiments.model.deskew import Deskew

MODELS = Registry("model", "model.name")

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def model_inputs(deskew: bool = False):
    """The models' input and the tensor their first layer reads: the input, deskewed when asked.

    Args:
        deskew: Straighten each digit's slant first (:class:`~digit_experiments.model.deskew.Deskew`).

    Returns:
        ``(inputs, x)``: the ``keras.Input`` named ``image``, and ``x``.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    return inputs, (Deskew(name="deskew")(inputs) if deskew else inputs)


def build_model(config: Mapping[str, Any]):
    """Build the model named by ``config["name"]`` with the remaining keys as arguments.

    Returns:
        An uncompiled ``keras.Model`` taking ``(batch, 28, 28, 1)`` float inputs in
        [0, 1] and returning softmax probabilities over the 10 digits.
    """
    options = plain(config)
    name = options.pop("name")
    return MODELS.build(name, **options)
