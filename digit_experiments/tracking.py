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
import re
import subprocess
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import keras
import mlflow
import numpy as np
from matplotlib.figure import Figure
from mlflow.entities import Run, RunStatus
from mlflow.models import infer_signature

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.core.validation import flatten

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Set by the sweep callback: the id of the sweep's parent run.
PARENT_RUN_ENV = "DIGITS_PARENT_RUN_ID"
#: MLflow's limit on the length of a param value.
MAX_PARAM_LENGTH = 6000
#: Tag holding a training run's output directory, where a resume finds its backup.
OUTPUT_DIR_TAG = "output_dir"
#: Config keys that may differ when a run is resumed (where things live, how verbose, the resume itself).
RESUME_MAY_CHANGE = ("resume", "paths.*", "trainer.verbose", "trainer.threads", "tracking.*")


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
    """Point MLflow at the configured store and experiment (created if missing); return its id.

    Sweep workers that start together may all find the experiment missing;
    the ones that lose the race to create it use the winner's.
    """
    uri = tracking_uri(tracking["uri"])
    _set_tracking_uri_keeping_environment(uri)
    name = tracking["experiment_name"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:") and tracking.get("artifact_location"):
        artifact_location = Path(tracking["artifact_location"]).absolute().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # the SQL store raises SQLAlchemy's IntegrityError, a server an MlflowException
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def connect(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store without creating anything in it; return its URI."""
    uri = tracking_uri(tracking["uri"])
    _set_tracking_uri_keeping_environment(uri)
    return uri


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
def tracked_run(
    tracking: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    failure_tags: Mapping[str, str] | None = None,
    **start_kwargs: Any,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run and always end it with an honest status.

    FINISHED on success, KILLED on Ctrl-C (KeyboardInterrupt), FAILED on any
    other exception, with the reason in the ``failure_reason`` tag and
    ``failure_tags`` (e.g. an Optuna trial's state) set too. The exception is
    re-raised: tracking never swallows errors.
    """
    experiment_id = use_experiment(tracking)
    tags = dict(tags or {})
    if os.environ.get(PARENT_RUN_ENV):  # a sweep job: nest it under the sweep's parent run
        tags["mlflow.parentRunId"] = os.environ[PARENT_RUN_ENV]
    run = mlflow.start_run(
        experiment_id=experiment_id, run_name=tracking.get("run_name"), tags=tags, **start_kwargs
    )
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.set_tags({**(failure_tags or {}), "failure_reason": "interrupted (Ctrl-C or SIGTERM)"})
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException as error:
        mlflow.set_tags({**(failure_tags or {}), "failure_reason": f"{type(error).__name__}: {error}"[:5000]})
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


def tag_key(text: str) -> str:
    """``text`` with the characters MLflow refuses in tag keys replaced by ``_``."""
    return re.sub(r"[^\w./ -]", "_", text)


def data_tags(checksums: Mapping[str, str], notes: Mapping[str, str]) -> dict[str, str]:
    """One ``data.sha256.<file>`` tag per data file read, plus the dataset notes."""
    tags = {f"data.sha256.{name}": digest for name, digest in checksums.items()}
    return {tag_key(key): str(value)[:5000] for key, value in {**tags, **notes}.items()}


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

    Args:
        logged_through: The last epoch already in the run (resumed runs). An epoch
            repeated because the process died between logging it and backing it up
            is not logged twice.
    """

    def __init__(self, logged_through: int = -1) -> None:
        super().__init__()
        self.logged_through = logged_through

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch <= self.logged_through:
            return
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


def find_resumable_run(tracking: Mapping[str, Any], resume: str) -> Run:
    """The unfinished training run that ``resume`` names: a run id or the run's output directory.

    Raises:
        UserError: when no such run exists in the store, it already finished,
            or it has no output directory to resume from.
    """
    client = mlflow.MlflowClient(tracking_uri(tracking["uri"]))
    folder = Path(resume).expanduser()
    if folder.is_dir():
        experiment_id = use_experiment(tracking)
        found = client.search_runs([experiment_id], filter_string=f"tags.{OUTPUT_DIR_TAG} = '{folder.absolute()}'")
        if not found:
            raise UserError(f"No run in {tracking_uri(tracking['uri'])} was trained in {folder.absolute()}; pass its run id instead.")
        run = found[0]
    else:
        try:
            run = client.get_run(resume)
        except Exception as error:  # noqa: BLE001  (MLflow raises several types for a missing run)
            raise UserError(
                f"Cannot resume {resume!r}: it is neither a folder nor a run id in {tracking_uri(tracking['uri'])} ({error})."
            ) from error
    if run.info.status == "FINISHED":
        raise UserError(f"Run {run.info.run_id} already finished; there is nothing to resume.")
    if OUTPUT_DIR_TAG not in run.data.tags:
        raise UserError(f"Run {run.info.run_id} has no `{OUTPUT_DIR_TAG}` tag, so its training state cannot be found.")
    return run


def check_resume_config(run: Run, config: Mapping[str, Any]) -> None:
    """Refuse to resume ``run`` with a config that differs from the one it started with.

    Raises:
        ConfigError: listing the keys whose values differ.
    """
    import fnmatch

    logged = run.data.params
    differ = [
        f"{key} (was {logged[key]!r}, now {str(value)[:MAX_PARAM_LENGTH]!r})"
        for key, value in flatten(config)
        if key in logged and str(value)[:MAX_PARAM_LENGTH] != logged[key]
        and not any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUME_MAY_CHANGE)
    ]
    if differ:
        raise ConfigError(
            f"Run {run.info.run_id} is resumed with a different config: {'; '.join(differ)}. "
            "Resume with the same overrides as the interrupted command."
        )


def last_logged_epoch(run_id: str, key: str = "loss") -> int:
    """The highest epoch step of ``key`` in the run, or -1 when none is logged."""
    history = mlflow.MlflowClient().get_metric_history(run_id, key)
    return max((m.step for m in history), default=-1)


def logged_history(run_id: str, keys: Iterable[str]) -> dict[str, list[float]]:
    """The per-epoch series of ``keys`` as logged in the run, in step order (a resumed run's full history)."""
    client = mlflow.MlflowClient()
    return {
        key: [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)] for key in keys
    }
