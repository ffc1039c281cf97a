"""Keras models, built by name from the ``model`` config group.

Importing this package registers every model in :data:`MODELS`.
"""

from digit_experiments.model.builder import MODELS, build_model
from digit_experiments.model import cnn_bn, tiny  # noqa: F401,E402  (register the models)

__all__ = ["MODELS", "build_model"]
