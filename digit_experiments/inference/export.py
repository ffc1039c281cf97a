"""Write a trained model as files that load without MLflow or this package.

* ``<output>/model.keras``: ``keras.models.load_model("model.keras")``;
* ``<output>/saved_model/``: a TensorFlow SavedModel whose ``serve`` signature
  maps float32 ``(n, 28, 28, 1)`` images in [0, 1] to ``(n, 10)`` probabilities
  (TensorFlow Serving, ``tf.saved_model.load``).

Both can be passed back as ``model_uri`` to evaluate and predict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"


def export_model(model: Any, output: Path) -> tuple[Path, Path]:
    """Save ``model`` as ``<output>/model.keras`` and ``<output>/saved_model/``.

    Args:
        model: A Keras model.
        output: The folder to write into (created; existing exports are replaced).

    Returns:
        The paths of the ``.keras`` file and of the SavedModel folder.
    """
    output.mkdir(parents=True, exist_ok=True)
    keras_file, saved_model = output / KERAS_FILE, output / SAVED_MODEL_DIR
    model.save(keras_file)
    model.export(str(saved_model), format="tf_saved_model", verbose=False)
    return keras_file, saved_model
