"""Write a trained model as files that load without MLflow.

* ``<output>/model.keras``: ``keras.models.load_model("model.keras")``; a model
  holding a class of this project (the Deskew layer, or a checkpoint compiled
  with its loss or learning-rate schedule) needs that class's module imported
  first, as :func:`loading_note` says;
* ``<output>/saved_model/``: a TensorFlow SavedModel whose ``serve`` signature
  maps float32 ``(n, 28, 28, 1)`` images in [0, 1] to ``(n, 10)`` probabilities
  (TensorFlow Serving, ``tf.saved_model.load``); it needs nothing of this package.

Both can be passed back as ``model_uri`` to evaluate and predict. An export
starts from one Keras model: not a list or a ``sweep:`` reference (several),
and not a SavedModel, which holds a TensorFlow graph and no Keras model
(:func:`export_reference`).
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import mlflow
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.core.output_folder import check_creatable
from digit_experiments.hpo.report import sweep_parent_id
from digit_experiments.inference.loading import as_references, is_saved_model

log = logging.getLogger(__name__)

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"


def check_export_folder(output: str) -> Path:
    """``output`` as the folder an export will write, refused before any work when it cannot be one.

    Args:
        output: The ``output`` config value.

    Returns:
        The folder, absolute.

    Raises:
        ConfigError: when ``output`` is empty or looks like a file name (``.keras``).
        UserError: when no folder can be created there (under a file, on a read-only mount, in ``/proc``).
    """
    fix = "Pass the folder to write `model.keras` and `saved_model/` into, e.g. `output=exports/digits`."
    if not str(output).strip():
        raise ConfigError(f"`output` is empty. {fix}")
    folder = Path(output).expanduser().absolute()
    if folder.suffix in {".keras", ".h5"}:
        raise ConfigError(f"`output={output}` looks like a file name, but export writes a folder (it would hold "
                          f"{folder / KERAS_FILE}). {fix}")
    check_creatable(folder, "output")
    return folder


def export_reference(model_uri: str | Sequence[str]) -> str:
    """``model_uri`` as the one reference an export can write faithfully, refused before any model loads.

    Raises:
        UserError: for a list or a ``sweep:`` reference (several models: naming how to pick one), and
            for a SavedModel folder, whose ``model.keras`` would not load (naming what to export from).
    """
    references = as_references(model_uri)
    if len(references) != 1:
        raise UserError("Export takes one model: pass a single `model_uri=...`, not a list.")
    (reference,) = references
    parent_id = sweep_parent_id(reference)
    if parent_id is not None:
        raise UserError(f"Export takes one model, and `{reference}` stands for a sweep's best jobs. "
                        f"{_pick_a_job(parent_id)}")
    if is_saved_model(Path(reference).expanduser()):
        raise UserError(_saved_model_refusal(reference))
    return reference


def _pick_a_job(run_id: str) -> str:
    """The sentence naming the model to export for ``sweep:<run_id>``: the sweep's best job (the ``best_run_id``
    tag its report sets on the parent run), or the run itself when it is a job of a sweep rather than its parent."""
    try:
        tags = mlflow.MlflowClient().get_run(run_id).data.tags
    except Exception:  # noqa: BLE001  (an unknown run, or a store that failed: the generic sentence still applies)
        tags = {}
    if tags.get(MLFLOW_PARENT_RUN_ID):
        return (f"Run {run_id} is not a sweep's parent run, though, but a job of sweep {tags[MLFLOW_PARENT_RUN_ID]}: "
                f"export this job's model with `model_uri=runs:/{run_id}/model`.")
    best = tags.get("best_run_id")
    job = f"`model_uri=runs:/{best}/model`, its best job by the sweep's report" if best else (
        "`model_uri=runs:/<run id>/model` of one job (the sweep's report, `report/sweep_report.md` in its parent run, "
        "ranks them best first)")
    return (f"Export {job}; or register the best with `promote run=sweep:{run_id} name=<name>` and export "
            "`model_uri=models:/<name>@champion`.")


def _saved_model_refusal(reference: str) -> str:
    """Why a SavedModel folder is not exported, and what to export from instead (the ``model.keras`` beside it, if any)."""
    sibling = Path(reference).expanduser().absolute().parent / KERAS_FILE
    beside = f" (`model_uri={sibling}`, beside this SavedModel)" if sibling.is_file() else ""
    return (f"`{reference}` is a TensorFlow SavedModel, which is already an export: it holds a TensorFlow graph and no "
            f"Keras model, so its {KERAS_FILE} would not load. Evaluate, predict and TensorFlow Serving take it as it is; "
            f"to export again, export from the model it came from: the run's `runs:/<run id>/model`, a "
            f"`models:/<name>@<alias>` URI, or the `.keras` file{beside}.")


def export_model(model: Any, output: Path) -> tuple[Path, Path]:
    """Save ``model`` as ``<output>/model.keras`` and ``<output>/saved_model/``.

    Args:
        model: A Keras model.
        output: The folder to write into (created; an earlier export in it is replaced whole,
            so no file of the old SavedModel lingers beside the new one).

    Returns:
        The paths of the ``.keras`` file and of the SavedModel folder.
    """
    output.mkdir(parents=True, exist_ok=True)
    keras_file, saved_model = output / KERAS_FILE, output / SAVED_MODEL_DIR
    if keras_file.exists() or saved_model.exists():
        log.warning("Replacing the earlier export in %s.", output)
        shutil.rmtree(saved_model, ignore_errors=True)
    model.save(keras_file)
    model.export(str(saved_model), format="tf_saved_model", verbose=False)
    return keras_file, saved_model


def loading_note(keras_file: Path) -> str | None:
    """The import a bare ``keras.models.load_model`` of an exported ``.keras`` file needs first; None when it needs none.

    Keras rebuilds a saved class only when its module has been imported (it registers the class); a class of
    this package (``digit_experiments.*``) is not imported by Keras itself.
    """
    classes = _saved_project_classes(keras_file)
    if not classes:
        return None
    modules = ", ".join(sorted(set(classes.values())))
    kind = "class" if len(classes) == 1 else "classes"
    return (f"{keras_file.name} holds this project's {', '.join(classes)} {kind}: run `import {modules}` (with "
            f"digit_experiments installed) before keras.models.load_model; {SAVED_MODEL_DIR}/ loads without it.")


def _saved_project_classes(keras_file: Path) -> dict[str, str]:
    """The classes of this package a ``.keras`` file names (layers, loss, schedule), each with its module."""
    with zipfile.ZipFile(keras_file) as archive:
        config = json.loads(archive.read("config.json"))
    return dict(sorted(_project_classes(config)))


def _project_classes(node: Any) -> Iterator[tuple[str, str]]:
    """``(class name, module)`` of every serialised object of this package within a ``.keras`` config."""
    if isinstance(node, dict):
        if str(node.get("module", "")).startswith("digit_experiments"):
            yield node["class_name"], node["module"]
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _project_classes(item)
