"""The trained model as an MLflow model, with a signature, an input example and pinned requirements.

Keras and TensorFlow are imported only when a model is logged, so that
tracking code used by commands that train nothing stays light.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np

if TYPE_CHECKING:
    import keras

    from digit_experiments.tracking.journal import RunJournal

log = logging.getLogger(__name__)


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model: the installed TensorFlow, Keras, MLflow, NumPy.

    Passing them explicitly avoids MLflow's inference, which costs seconds per model.
    """
    requirements = []
    for names in (("tensorflow-cpu", "tensorflow"), ("keras",), ("mlflow",), ("numpy",)):
        for name in names:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                requirements.append(f"{name}=={importlib.metadata.version(name)}")
                break
    return requirements


@contextlib.contextmanager
def _quiet(logger_name: str):
    """Hide a logger's warnings for the duration of the block."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def log_keras_model(
    model: keras.Model, example: np.ndarray, local_dir: Path, recorder: RunJournal, artifact_path: str = "model"
) -> str:
    """Log ``model`` as an MLflow Keras-flavour model with the served signature and an input example.

    The signature and the input example are the served model's (image files
    or pixels in, digits out; :mod:`digit_experiments.inference.serving`),
    set after saving: the ``keras`` flavour accepts only tensor signatures.

    The logged model is for inference: an uncompiled copy sharing the
    weights, without the optimizer, its learning-rate schedule or the
    training loss, so it loads with plain Keras (``mlflow models serve``,
    TF Serving, another project) even when those are this project's classes.
    The one project layer a model may hold is ``Deskew`` (``model.deskew=true``):
    elsewhere, ``import digit_experiments.model.deskew`` before loading it.
    Its ``python_function`` flavour (``mlflow models serve``, ``mlflow.pyfunc``)
    checks what it is sent first (:mod:`digit_experiments.inference.serving`).

    Args:
        model: The model to log.
        example: A small float32 ``(n, 28, 28, 1)`` batch, kept as the input example.
        local_dir: Folder for the local copy (inside the run's output dir); one left by an
            interrupted save is replaced.
        recorder: The run's journal, which delivers the folder to the store.
        artifact_path: Artifact folder of the model in the run.

    Returns:
        The model's ``runs:/<run id>/<artifact_path>`` URI.
    """
    import keras

    from digit_experiments.inference.serving import use_checked_pyfunc

    model = keras.Model(model.input, model.output, name=model.name)  # single tensors keep the input structure
    if local_dir.exists():  # left by a save that was interrupted; the resumed run writes it again
        log.warning("Replacing %s, left by an earlier attempt to save this run's model.", local_dir)
        shutil.rmtree(local_dir)
    local_dir.mkdir(parents=True)
    with _quiet("mlflow.keras.save"):  # its "no signature" warning: use_checked_pyfunc sets the signature next
        mlflow.keras.save_model(model, str(local_dir), pip_requirements=pip_requirements())
    use_checked_pyfunc(str(local_dir), example)
    recorder.log_artifacts(local_dir, artifact_path)
    return f"runs:/{recorder.run_id}/{artifact_path}"
