"""Load trained models for evaluation, prediction and export, one or several at once.

A model reference (``model_uri``) is any of:

* an MLflow model URI: ``runs:/<run id>/model``, ``models:/<name>/<version>``
  or ``models:/<name>@<alias>`` (read from the configured tracking store);
* a local file ``.keras`` (the training checkpoint, or an export);
* a local folder: an MLflow model (it holds ``MLmodel``) or a TensorFlow
  SavedModel (it holds ``saved_model.pb``, as written by the export command);
* ``sweep:<parent run id>``: the ``top`` best finished jobs of a sweep, ranked
  by the sweep's optimised metric.

A list of references (or a string that spells one, ``[a,b,...]``) is an
:class:`Ensemble` whose probabilities are the mean of its members'. A reference
that cannot be read is a :class:`UserError`.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import mlflow
import numpy as np
import tensorflow as tf

from digit_experiments.core.errors import UserError
from digit_experiments.hpo.report import best_job_ids, sweep_parent_id
from digit_experiments.tracking.journal import journal_run_id
from digit_experiments.tracking.registry import finished_training_runs_hint
from digit_experiments.model import deskew  # noqa: F401  (registers the Deskew layer, so models that use it load)
from digit_experiments.training import losses, schedules  # noqa: F401  (register their classes for checkpoints)
from digit_experiments.inference.model_uris import (
    missing_registered_version,
    missing_run_artifact,
    misspelt_scheme,
    runs_uri_parts,
    runs_uri_without_path,
    sweep_job_problem,
)
from digit_experiments.inference.scoring import predict_probabilities

log = logging.getLogger(__name__)


@dataclass
class Member:
    """One loaded model.

    Attributes:
        uri: The reference it was loaded from.
        model: The model: ``(n, 28, 28, 1)`` float32 in [0, 1] → ``(n, 10)`` probabilities.
        run_id: The MLflow run that trained it, when known.
    """

    uri: str
    model: keras.Model
    run_id: str | None


class Ensemble:
    """One or more models whose class probabilities are averaged.

    It has the ``predict(dataset, verbose)`` method of a Keras model, so
    :func:`digit_experiments.inference.scoring.score_sets` scores it like a model.
    """

    def __init__(self, members: Sequence[Member]) -> None:
        self.members = list(members)

    @property
    def run_ids(self) -> list[str]:
        """The training runs of the members, where known."""
        return [m.run_id for m in self.members if m.run_id]

    def predict(self, dataset: tf.data.Dataset, verbose: int | str = 0) -> np.ndarray:
        """Mean ``(n, 10)`` probabilities of the members on a dataset of float image batches."""
        outputs = [np.asarray(m.model.predict(dataset, verbose=verbose), np.float32) for m in self.members]
        return np.mean(outputs, axis=0)

    def probabilities(self, images: np.ndarray, batch_size: int = 512, tta: bool = False) -> np.ndarray:
        """Mean ``(n, 10)`` probabilities of the members for ``(n, 28, 28)`` uint8 standardised images.

        With ``tta``, also averaged over the test-time augmentation views of each image.
        """
        if len(images) == 0:
            return np.zeros((0, 10), np.float32)
        return predict_probabilities(self, images, batch_size, tta=tta)


def load_ensemble(uris: str | Sequence[str], top: int = 3) -> Ensemble:
    """Load one model reference or a list of them (see the module docstring).

    Args:
        uris: A reference or a list of references.
        top: How many jobs a ``sweep:<parent run id>`` reference stands for.

    Returns:
        The loaded models as an :class:`Ensemble` (of one, for a single reference).

    Raises:
        UserError: for an empty list, or a reference that cannot be found or read.
    """
    references = as_references(uris)
    if not references:
        raise UserError("No model given. Pass `model_uri=runs:/<run id>/model` (or a .keras file, or a list).")
    expanded = [uri for reference in references for uri in _expand(reference, top)]
    members = [load_member(uri) for uri in expanded]
    log.info("Loaded %d model(s): %s", len(members), ", ".join(m.uri for m in members))
    return Ensemble(members)


def as_references(uris: str | Sequence[str] | None) -> list[str]:
    """A ``model_uri`` value (one reference or a list of them) as a list of strings.

    A string that spells a list, ``[a,b,...]``, is that list: it is what a quoted Hydra
    override (``'model_uri="[a,b]"'``) and the benchmark scripts' ``--models`` receive.
    """
    if isinstance(uris, str):
        text = uris.strip()
        if text.startswith("[") and text.endswith("]"):
            return [part.strip() for part in text[1:-1].split(",") if part.strip()]
        return [uris]
    return [str(uri) for uri in uris or []]


def reads_tracking_store(uris: str | Sequence[str] | None) -> bool:
    """Whether loading ``uris`` reads the tracking store: a ``sweep:`` reference, or an MLflow URI."""
    return any(sweep_parent_id(uri) is not None or _is_mlflow_uri(uri) for uri in as_references(uris))


def _is_mlflow_uri(uri: str) -> bool:
    """``runs:/...``, ``models:/...`` and the like, as opposed to a local file or folder."""
    return ":/" in uri and not Path(uri).expanduser().exists()


def _expand(reference: str, top: int) -> list[str]:
    """A ``sweep:`` reference as the model URIs of its best jobs; anything else as itself."""
    parent_id = sweep_parent_id(reference)
    return [reference] if parent_id is None else best_sweep_models(parent_id, top)


def best_sweep_models(parent_run_id: str, top: int) -> list[str]:
    """``runs:/<id>/model`` of the ``top`` best finished jobs of a sweep, best first.

    Raises:
        UserError: when the parent run does not exist, is a job of a sweep rather than its parent,
            or has no finished job with a logged model.
    """
    client = mlflow.MlflowClient()
    problem = sweep_job_problem(client, parent_run_id, "model_uri", f"runs:/{parent_run_id}/model")
    if problem:
        raise _unloadable(f"sweep:{parent_run_id}", problem)
    return [f"runs:/{run_id}/model" for run_id in best_job_ids(client, parent_run_id, top)]


def is_saved_model(path: Path) -> bool:
    """Whether ``path`` is a TensorFlow SavedModel folder (it holds ``saved_model.pb``, as the export command writes)."""
    return (path / "saved_model.pb").is_file()


def load_member(uri: str) -> Member:
    """Load one model reference (not a list, not ``sweep:``).

    Raises:
        UserError: naming the reference and what went wrong.
    """
    if _is_mlflow_uri(uri):
        return _load_mlflow(uri)
    path = Path(uri).expanduser()
    if not path.exists():
        raise UserError(
            f"Model {uri!r} not found: it is neither an existing file or folder nor an MLflow URI "
            "(runs:/<run id>/model, models:/<name>/<version>)."
        )
    if path.is_file():
        return Member(uri, _load_keras_file(path), _checkpoint_run_id(path))
    if (path / "MLmodel").exists():
        return _load_mlflow(str(path.absolute()))
    if is_saved_model(path):
        return Member(uri, _load_saved_model(path), None)
    raise UserError(f"Folder {uri!r} holds no model: expected an MLflow model (MLmodel) or a SavedModel (saved_model.pb).")


def _load_mlflow(uri: str) -> Member:
    """An MLflow Keras-flavour model and the id of the run that logged it."""
    run_id, artifact_path = runs_uri_parts(uri)
    if run_id and not artifact_path:  # MLflow would fetch the whole run (``runs:/<id>/``) or call the id empty
        raise _unloadable(uri, runs_uri_without_path(mlflow.MlflowClient(), run_id))
    try:
        model = mlflow.keras.load_model(uri)
        run_id = mlflow.models.get_model_info(uri).run_id or _training_run_id(uri)
    except Exception as error:  # noqa: BLE001  (MLflow and the stores raise many types)
        client = mlflow.MlflowClient()
        problem = misspelt_scheme(uri) or missing_run_artifact(client, uri) or missing_registered_version(client, uri)
        if problem:
            raise _unloadable(uri, problem) from error
        runs = finished_training_runs_hint(client) if uri.startswith("runs:/") else ""
        raise UserError(
            f"Cannot load model {uri!r} from the tracking store {mlflow.get_tracking_uri()}: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}. Check the run id or "
            f"model name, and point at the right store with tracking.uri=... or $MLFLOW_TRACKING_URI. {runs}"
        ) from error
    return Member(uri, model, run_id)


def _unloadable(uri: str, problem: str) -> UserError:
    """The error for a model URI whose problem is known: the URI, the store, and ``problem`` (which names the fix)."""
    return UserError(f"Cannot load model {uri!r} from the tracking store {mlflow.get_tracking_uri()}: {problem}")


def _checkpoint_run_id(path: Path) -> str | None:
    """The run that wrote a checkpoint inside its output folder (``<output dir>/checkpoints/best.keras``), else None.

    The folder's tracking journal names that run; an exported or copied file has none.
    A damaged journal header only costs the link.
    """
    return journal_run_id(path.absolute().parent.parent)


def _training_run_id(uri: str) -> str | None:
    """The run that logged the model at a ``runs:/`` or ``models:/`` URI (None for other URIs)."""
    if uri.startswith("runs:/"):
        return runs_uri_parts(uri)[0]
    if uri.startswith("models:/"):
        from mlflow.store.artifact.utils.models import get_model_name_and_version

        client = mlflow.MlflowClient()
        return client.get_model_version(*get_model_name_and_version(client, uri)).run_id
    return None


def _load_keras_file(path: Path) -> keras.Model:
    """A model saved with ``model.save(...)`` (``.keras``)."""
    fix = "Pass a .keras file written by `model.save(...)` or `digit_experiments.export`, or a run's `runs:/<run id>/model`."
    if not zipfile.is_zipfile(path):  # Keras would report it as "File not found"
        raise UserError(f"Cannot read {path} as a Keras model: a .keras file is a zip archive, and this file is not. {fix}")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001  (Keras raises many types for a bad file)
        raise UserError(f"Cannot read {path} as a Keras model (.keras file): {type(error).__name__}: {error}. {fix}") from error


def _load_saved_model(path: Path) -> keras.Model:
    """A TensorFlow SavedModel with a ``serve`` endpoint, wrapped as a Keras model."""
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serve")
    except Exception as error:  # noqa: BLE001
        raise UserError(f"Cannot read {path} as a TensorFlow SavedModel: {type(error).__name__}: {error}") from error
    inputs = keras.Input((28, 28, 1), name="images")
    return keras.Model(inputs, layer(inputs), name=path.name)

