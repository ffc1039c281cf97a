"""MLflow tracking: where runs go, what each run records, and how it ends.

The local default is a SQLite database in ``./mlruns/mlflow.db`` with
artifacts under ``./mlruns/artifacts`` (MLflow 3.17's plain file store refuses
to start by default). ``$MLFLOW_TRACKING_URI`` overrides the config, so a
shared ``mlflow server`` can collect runs from many machines.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator, Mapping

import keras
import mlflow
import numpy as np
from matplotlib.figure import Figure
from mlflow.entities import RunStatus
from mlflow.models import infer_signature

from digit_experiments.validation import flatten

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: MLflow's limit on the length of a param value.
MAX_PARAM_LENGTH = 6000


def tracking_uri(configured: str) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``configured`` with SQLite paths made absolute."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        database = Path(uri[len(prefix):]).absolute()
        database.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(database)
    return uri


def use_experiment(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store and experiment (created if missing); return its id."""
    uri = tracking_uri(tracking["uri"])
    _set_tracking_uri_keeping_environment(uri)
    experiment = mlflow.get_experiment_by_name(tracking["experiment_name"])
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:") and tracking.get("artifact_location"):
        artifact_location = Path(tracking["artifact_location"]).absolute().as_uri()
    return mlflow.create_experiment(tracking["experiment_name"], artifact_location=artifact_location)


def _set_tracking_uri_keeping_environment(uri: str) -> None:
    """``mlflow.set_tracking_uri`` without its side effect of exporting ``$MLFLOW_TRACKING_URI``.

    MLflow exports the URI for subprocesses; left in place, it would make the
    next run in the same process (a sweep job, a test) ignore its own config.
    """
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@contextlib.contextmanager
def tracked_run(tracking: Mapping[str, Any], tags: Mapping[str, str] | None = None, **start_kwargs: Any) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run and always end it with an honest status.

    FINISHED on success, KILLED on Ctrl-C (KeyboardInterrupt), FAILED on any
    other exception, with the reason in the ``failure_reason`` tag. The
    exception is re-raised: tracking never swallows errors.
    """
    experiment_id = use_experiment(tracking)
    run = mlflow.start_run(
        experiment_id=experiment_id, run_name=tracking.get("run_name"), tags=dict(tags or {}), **start_kwargs
    )
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.set_tag("failure_reason", "interrupted (Ctrl-C or SIGTERM)")
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException as error:
        mlflow.set_tag("failure_reason", f"{type(error).__name__}: {error}"[:5000])
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def git_tags() -> dict[str, str]:
    """The project's git commit and whether the work tree had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"git.commit": git("rev-parse", "HEAD"), "git.dirty": str(bool(git("status", "--porcelain")))}
    except (OSError, subprocess.SubprocessError):
        return {"git.commit": "unknown"}


def data_tags(checksums: Mapping[str, str], notes: Mapping[str, str]) -> dict[str, str]:
    """One ``data.sha256.<file>`` tag per data file read, plus the dataset notes."""
    return {**{f"data.sha256.{name}": digest for name, digest in checksums.items()}, **notes}


def log_config(config: Mapping[str, Any], resolved_yaml: str, overrides: list[str]) -> None:
    """Every resolved config value as a flattened param; the YAML and overrides as artifacts."""
    params = {key: str(value)[:MAX_PARAM_LENGTH] for key, value in flatten(config)}
    mlflow.log_params(params)
    mlflow.log_text(resolved_yaml, "config/resolved.yaml")
    mlflow.log_text("\n".join(overrides) + "\n", "config/overrides.txt")


def log_figure(figure: Figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact and free it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


class MlflowMetricsLogger(keras.callbacks.Callback):
    """Log every epoch's metrics and the learning rate to the active MLflow run.

    Steps are epoch indices (0-based), so a resumed run continues the same
    series without gaps or duplicates.
    """

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {key: float(value) for key, value in (logs or {}).items() if np.isscalar(value) or np.ndim(value) == 0}
        metrics.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)


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


def log_keras_model(model: keras.Model, example: np.ndarray, local_dir: Path, artifact_path: str = "model") -> str:
    """Log ``model`` as an MLflow Keras-flavour model with a signature and an input example.

    ``mlflow.keras.log_model(..., input_example=...)`` crashes in MLflow 3.17.2:
    it writes the example before creating the model folder. Saving into a
    folder that already exists and logging that folder keeps the example.

    Args:
        model: The model to log.
        example: A small float32 ``(n, 28, 28, 1)`` batch, kept as the input example.
        local_dir: Empty or missing folder for the local copy (inside the run's output dir).
        artifact_path: Artifact folder of the model in the run.

    Returns:
        The model's ``runs:/<run id>/<artifact_path>`` URI.
    """
    signature = infer_signature(example, model.predict(example, verbose=0))
    local_dir.mkdir(parents=True, exist_ok=False)
    mlflow.keras.save_model(
        model, str(local_dir), signature=signature, input_example=example, pip_requirements=pip_requirements()
    )
    mlflow.log_artifacts(str(local_dir), artifact_path)
    return f"runs:/{mlflow.active_run().info.run_id}/{artifact_path}"
