"""The logged model's ``python_function`` flavour: image files or pixels in, digits out, checked first.

``mlflow models serve`` and ``mlflow.pyfunc.load_model`` reach a logged model
through this module (its ``MLmodel`` names it as the pyfunc ``loader_module``;
the ``keras`` flavour beside it is untouched, so ``mlflow.keras.load_model``
still gives the bare network).

What it takes, one image per row (:data:`SIGNATURE`, two optional columns):

* ``image``: an image file as base64 text (PNG, JPEG, BMP, ...; any size,
  colour or polarity, or a ``data:`` URL). The server standardises it with
  the training data's own code
  (:func:`~digit_experiments.inference.encoded_images.standardise_files`),
  so a client needs nothing from this package: ``{"dataframe_records":
  [{"image": "<base64>"}]}``.
* ``pixels``: an already standardised 28×28 image, floats in [0, 1], light
  ink on black: ``{"dataframe_records": [{"pixels": [[...28 floats], ...]}]}``.

Rows of both kinds can share a request, each row giving one of the two
(``{"dataframe_records": [{"image": ...}, {"pixels": ...}]}``); a row with
neither or both is refused.

What it answers, per row: ``digit``, its ``probability`` and all ten
``probabilities``.

Why two columns and not a tensor: an MLflow signature is either tensors or
columns, and a base64 string has no place in a float tensor. The bare
``{"inputs": (n, 28, 28, 1)}`` payload of earlier versions is therefore
refused with a 400 by MLflow's schema check; the same pixels go in the
``pixels`` column.

MLflow's own Keras wrapper served whatever parsed as float32: a NaN, an
infinity or a 1e300 (which becomes one) came back as a confident digit, and
10,000 images in one request ran past the server's 60 s limit into a 504.
Here each of those, a bad base64 string, a file that is not an image and a
blank image (a file without ink, or pixels all 0, which the network would
still name a digit for) get a 400 and a message that names the fix, before
the network runs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, Array, ColSpec, Schema

from digit_experiments.dataset.standardise import has_ink
from digit_experiments.inference.encoded_images import UnusableImage, decode_base64, png_base64, standardise_files

#: Images one request may hold (MLmodel ``python_function.max_images`` overrides it per model).
MAX_IMAGES = 1024
#: The input the network was trained on: (n, 28, 28, 1) pixels in [0, 1], light ink on black.
SHAPE = (28, 28, 1)

#: What the served model takes and answers (see the module docstring).
#:
#: ``pixels`` is declared ``AnyType`` (MLflow's type for a field that may be
#: missing or hold several types), not ``Array(Array("double"))``: a
#: ``dataframe_records`` request that mixes ``image`` rows and ``pixels``
#: rows reaches MLflow as a DataFrame whose missing cells pandas fills with
#: NaN, and MLflow 3 refuses a NaN in an ``Array`` column even when that
#: column is optional (``_enforce_array`` accepts only ``None`` or ``[]``),
#: in the server's parsing and in ``PyFuncModel.predict`` alike, so such a
#: request got MLflow's schema error before this model saw it. ``AnyType``
#: is passed through unchecked, and :func:`_pixel_rows` checks each cell
#: (28x28 numbers) and :meth:`ServedClassifier.checked` their values.
#: A model logged with the earlier signature is upgraded in place with
#: ``mlflow.models.set_signature(model_uri, SIGNATURE)``.
SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec("string", "image", required=False),
        ColSpec(AnyType(), "pixels", required=False),
    ]),
    outputs=Schema([
        ColSpec("long", "digit"),
        ColSpec("double", "probability"),
        ColSpec(Array("double"), "probabilities"),
    ]),
)


class ServedClassifier:
    """A Keras digit classifier behind checks on what it is sent.

    Args:
        model: The Keras network: ``(n, 28, 28, 1)`` floats in [0, 1] → ``(n, 10)`` probabilities.
        max_images: Largest batch one call accepts.
    """

    def __init__(self, model: Any, max_images: int = MAX_IMAGES) -> None:
        self.model = model
        self.max_images = max_images

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score each row of ``data``: an ``image`` file in base64, or standardised ``pixels``.

        Args:
            data: A DataFrame with an ``image`` and/or a ``pixels`` column (as
                MLflow's schema check leaves it), one image per row.
            params: Unused (MLflow's interface).

        Returns:
            One row per input row: ``digit``, ``probability`` and the ten ``probabilities``.

        Raises:
            MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400) naming what is wrong and the fix.
        """
        images = self.checked(self.images(data))
        probabilities = np.asarray(self.model.predict(images, batch_size=256, verbose=0), np.float64)
        digits = probabilities.argmax(axis=1)
        return pd.DataFrame({
            "digit": digits,
            "probability": probabilities[np.arange(len(digits)), digits],
            "probabilities": list(probabilities),
        })

    def images(self, data: Any) -> np.ndarray:
        """The rows of ``data`` as one float32 ``(n, 28, 28, 1)`` batch (unchecked pixel values)."""
        if not isinstance(data, pd.DataFrame) or not {"image", "pixels"} & set(data.columns):
            raise _bad_request(
                'Send one image per row in a column "image" (a base64 image file) or "pixels" '
                '(28x28 floats in [0, 1]), e.g. {"dataframe_records": [{"image": "<base64>"}]}.'
            )
        if len(data) > self.max_images:
            raise _bad_request(
                f"The request holds {len(data):,} images, over this server's limit of {self.max_images:,}; "
                "send them in several requests."
            )
        files = _column(data, "image")
        pixels = _column(data, "pixels")
        batch = np.zeros((len(data), *SHAPE), np.float32)
        for row in range(len(data)):
            if _given(files[row]) and _given(pixels[row]):
                raise _bad_request(f'Row {row} has both an "image" and "pixels"; give one of them per row.')
            if not _given(files[row]) and not _given(pixels[row]):
                raise _bad_request(f'Row {row} has neither an "image" nor "pixels"; give one of them.')
        from_files = [row for row in range(len(data)) if _given(files[row])]
        if from_files:
            batch[from_files] = self.standardised(files, from_files)[..., None] / np.float32(255)
        for row in (row for row in range(len(data)) if not _given(files[row])):
            batch[row] = _pixel_rows(pixels[row], row)
        return batch

    @staticmethod
    def standardised(files: list[Any], rows: list[int]) -> np.ndarray:
        """Decode and standardise the base64 files of ``rows``: ``(len(rows), 28, 28)`` uint8."""
        contents = []
        for row in rows:
            try:
                contents.append(decode_base64(files[row]))
            except ValueError as error:
                raise _bad_request(f'Row {row}: the "image" is {error}. Send the file\'s bytes in base64.') from None
        try:
            return standardise_files(contents)
        except UnusableImage as error:
            raise _bad_request(f'Row {rows[error.index]}: the "image" cannot be used: {error.reason}. {error.fix}.') from None

    def checked(self, images: np.ndarray) -> np.ndarray:
        """``images`` if it is a non-empty batch of finite pixels in [0, 1], none blank, or a 400 saying why not."""
        if len(images) == 0:
            raise _bad_request("The input holds no image; send at least one.")
        bad = ~np.isfinite(images) | (images < 0) | (images > 1)
        if bad.any():
            rows = bad.reshape(len(images), -1).any(axis=1)
            raise _bad_request(
                f"Image {int(np.argmax(rows))} (and {int(rows.sum()) - 1} more) has pixels that "
                "are not finite numbers in [0, 1] (NaN, infinite, or out of range). Send pixels divided by 255."
            )
        blank = ~has_ink(images[..., 0])
        if blank.any():
            raise _bad_request(
                f"Image {int(np.argmax(blank))} (and {int(blank.sum()) - 1} more) is blank (every pixel 0): it holds "
                "no digit, yet the network would name one. Send the digit's pixels, light ink on black, divided by 255."
            )
        return images


def _column(data: pd.DataFrame, name: str) -> list[Any]:
    return list(data[name]) if name in data.columns else [None] * len(data)


def _given(value: Any) -> bool:
    """Whether a cell holds something (pandas fills a missing optional cell with None, NaN or ``pd.NA``)."""
    return value is not None and value is not pd.NA and not (isinstance(value, float) and np.isnan(value))


def _pixel_rows(value: Any, row: int) -> np.ndarray:
    """One ``pixels`` cell as a float32 ``(28, 28, 1)`` image (values checked later, with the batch)."""
    try:
        image = np.asarray([np.asarray(line, np.float32) for line in value], np.float32)
    except (TypeError, ValueError) as error:
        raise _bad_request(f'Row {row}: "pixels" is not a 28x28 array of numbers ({error}).') from None
    if image.shape == (28, 28):
        image = image[..., None]
    if image.shape != SHAPE:
        raise _bad_request(f'Row {row}: "pixels" has shape {image.shape}; send 28 rows of 28 floats in [0, 1].')
    return image


def input_example(images: np.ndarray) -> pd.DataFrame:
    """The served model's input example, in both forms: the first image as a base64 PNG file, the second as pixels.

    Args:
        images: At least two float ``(28, 28, 1)`` images in [0, 1], light ink on black.
    """
    return pd.DataFrame({
        "image": [png_base64(np.rint(images[0, ..., 0] * 255).astype(np.uint8)), None],
        "pixels": [None, np.round(images[1, ..., 0].astype(np.float64), 4).tolist()],
    })


def _bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _load_pyfunc(path: str) -> ServedClassifier:
    """MLflow's loader hook: ``path`` is the model's ``data`` folder, as the ``keras`` flavour saved it."""
    import keras

    from digit_experiments.model import deskew  # noqa: F401  (registers the Deskew layer, so models that use it load)

    model_dir = os.path.dirname(path) if not os.path.isfile(os.path.join(path, "MLmodel")) else path
    conf = Model.load(os.path.join(model_dir, "MLmodel")).flavors["python_function"]
    model = keras.saving.load_model(os.path.join(model_dir, "data", "model.keras"), compile=False)
    return ServedClassifier(model, int(conf.get("max_images", MAX_IMAGES)))


def use_checked_pyfunc(model_dir: str, example: np.ndarray) -> None:
    """Make the ``python_function`` flavour of the MLflow model in ``model_dir`` this module's.

    Points the flavour's ``loader_module`` here and sets :data:`SIGNATURE` and
    an input example in both forms (:func:`input_example`). MLflow's
    ``_save_example`` writes the example files as ``log_model`` would; the
    public ``input_example=`` of ``mlflow.keras.save_model`` cannot be used,
    because that flavour refuses a column signature.

    Args:
        model_dir: A folder written by ``mlflow.keras.save_model``.
        example: At least two float ``(28, 28, 1)`` training images in [0, 1].
    """
    from mlflow.models.utils import _save_example

    path = os.path.join(model_dir, "MLmodel")
    model = Model.load(path)
    model.flavors["python_function"]["loader_module"] = __name__
    model.flavors["python_function"]["max_images"] = MAX_IMAGES
    model.signature = SIGNATURE
    _save_example(model, input_example(example), model_dir)
    model.save(path)
