"""The logged model's ``python_function`` flavour: the Keras network behind checks on what it is sent.

``mlflow models serve`` and ``mlflow.pyfunc.load_model`` reach a logged model
through this module (its ``MLmodel`` names it as the pyfunc ``loader_module``;
the ``keras`` flavour beside it is untouched). MLflow's own Keras wrapper
serves whatever parses as float32: a NaN, an infinity or a 1e300 (which
becomes one) came back as a confident digit with status 200, and 10,000
images in one request ran past the server's 60 s limit into a 504. Here each
of those is refused with a 400 and a message that names the fix, before the
network runs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

#: Images one request may hold (MLmodel ``python_function.max_images`` overrides it per model).
MAX_IMAGES = 1024
#: The input the network was trained on: (n, 28, 28, 1) pixels in [0, 1], light ink on black.
SHAPE = (28, 28, 1)


class ServedClassifier:
    """A Keras digit classifier that refuses inputs it was not trained for.

    Args:
        model: The Keras network.
        max_images: Largest batch one call accepts.
    """

    def __init__(self, model: Any, max_images: int = MAX_IMAGES) -> None:
        self.model = model
        self.max_images = max_images

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """``(n, 10)`` class probabilities for ``(n, 28, 28, 1)`` (or ``(n, 28, 28)``) pixels in [0, 1].

        Raises:
            MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400) naming what is wrong and the fix.
        """
        images = self.checked(data)
        return np.asarray(self.model.predict(images, batch_size=256, verbose=0))

    def checked(self, data: Any) -> np.ndarray:
        """``data`` as a float32 ``(n, 28, 28, 1)`` batch, or a 400 saying why it cannot be one."""
        try:
            images = np.asarray(data, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise _bad_request(f"The input is not an array of numbers ({error}).") from None
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[1:] != SHAPE:
            raise _bad_request(f"The input has shape {images.shape}; send (n, 28, 28, 1) or (n, 28, 28) pixels.")
        if len(images) == 0:
            raise _bad_request("The input holds no image; send at least one.")
        if len(images) > self.max_images:
            raise _bad_request(
                f"The request holds {len(images):,} images, over this server's limit of {self.max_images:,}; "
                "send them in several requests."
            )
        bad = ~np.isfinite(images) | (images < 0) | (images > 1)
        if bad.any():
            first = int(np.argmax(bad.reshape(len(images), -1).any(axis=1)))
            raise _bad_request(
                f"Image {first} (and {int(bad.reshape(len(images), -1).any(axis=1).sum()) - 1} more) has pixels that "
                "are not finite numbers in [0, 1] (NaN, infinite, or out of range). Send pixels divided by 255."
            )
        return images


def _bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _load_pyfunc(path: str) -> ServedClassifier:
    """MLflow's loader hook: ``path`` is the model's ``data`` folder, as the ``keras`` flavour saved it."""
    import keras

    model_dir = os.path.dirname(path) if not os.path.isfile(os.path.join(path, "MLmodel")) else path
    conf = Model.load(os.path.join(model_dir, "MLmodel")).flavors["python_function"]
    model = keras.saving.load_model(os.path.join(model_dir, "data", "model.keras"), compile=False)
    return ServedClassifier(model, int(conf.get("max_images", MAX_IMAGES)))


def use_checked_pyfunc(model_dir: str) -> None:
    """Point the ``python_function`` flavour of the MLflow model in ``model_dir`` at this module."""
    path = os.path.join(model_dir, "MLmodel")
    model = Model.load(path)
    model.flavors["python_function"]["loader_module"] = __name__
    model.flavors["python_function"]["max_images"] = MAX_IMAGES
    model.save(path)
