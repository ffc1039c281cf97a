"""The MLflow Model Registry: register a run's model under a name, and point an alias at a version.

Training registers its logged model when ``tracking.register_as=<name>`` is
set (the run's journal delivers the registration after the model's files,
see :mod:`digit_experiments.tracking.journal`). The ``promote`` command moves
an alias (``champion`` by default) to a run's version, registering it first
when needed; ``models:/<name>@champion`` then reaches that model in
``evaluate``, ``predict``, ``export``, ``demo`` and ``mlflow models serve``.
"""

from __future__ import annotations

import logging
import re

import mlflow
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.tracking.listing import recent_runs_hint
from digit_experiments.tracking.tags import OUTPUT_DIR_TAG, SWEEP_ROLE_TAG

log = logging.getLogger(__name__)

#: The artifact folder training logs its model to.
MODEL_ARTIFACT = "model"
#: Names MLflow's UI and URIs handle without quoting (``models:/<name>@<alias>``).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: MLflow refuses aliases that look like versions (``v1``, ``V2``), ``latest`` in any case (it names the newest
#: version), and any character but these.
_ALIAS = re.compile(r"^(?![vV]\d+$)(?![lL][aA][tT][eE][sS][tT]$)[A-Za-z0-9_-]+$")


def check_name(name: str, key: str) -> str:
    """``name`` if it works in a ``models:/`` URI, else a ConfigError naming ``key``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"Invalid registered model name {name!r} (config key `{key}`): use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, e.g. `digits-classifier`, so that `models:/<name>@champion` works."
        )
    return name


def check_alias(alias: str) -> str:
    """``alias`` if MLflow accepts it, else a ConfigError."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ConfigError(
            f"Invalid alias {alias!r} (config key `alias`): use letters, digits, '_' and '-', and neither the form "
            "v<number> (MLflow reads that as a version) nor `latest` (MLflow reserves it for the newest version), "
            "e.g. `alias=champion`."
        )
    return alias


def register_run_model(client: mlflow.MlflowClient, name: str, run_id: str) -> ModelVersion:
    """The version of ``name`` holding run ``run_id``'s model: the existing one, or a new one.

    Idempotent, so that a registration delivered twice (the journal retries
    after a store outage) creates one version, not two.

    Args:
        client: A client of the tracking store (which is also the registry).
        name: The registered model's name; created when missing.
        run_id: The run whose ``model`` artifact is registered.

    Returns:
        The model version.
    """
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return max(existing, key=lambda version: int(version.version))
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="Digit classifiers trained by digit_experiments.")
    source = client.get_run(run_id).info.artifact_uri.rstrip("/") + f"/{MODEL_ARTIFACT}"
    version = client.create_model_version(name, source, run_id=run_id)
    log.info("Registered run %s's model as models:/%s/%s.", run_id, name, version.version)
    return version


def promote(client: mlflow.MlflowClient, name: str, run_id: str, alias: str) -> ModelVersion:
    """Point ``models:/<name>@<alias>`` at run ``run_id``'s model, registering it when needed.

    Raises:
        UserError: when the run does not exist or logged no model.
    """
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as error:
        raise UserError(
            f"No run {run_id!r} in the tracking store {client.tracking_uri}: {error.message}. {finished_training_runs_hint(client)}"
        ) from None
    if run.data.tags.get(SWEEP_ROLE_TAG) == "parent":
        raise UserError(
            f"Run {run_id} ({run.info.run_name}) is a sweep's parent run: it holds the sweep's report, not a model. "
            f"Promote the sweep's best job with `run=sweep:{run_id}`, or name one job's run id."
        )
    if not any(item.path == MODEL_ARTIFACT for item in client.list_artifacts(run_id)):
        raise UserError(
            f"Run {run_id} ({run.info.run_name}) has no logged model to promote (no `{MODEL_ARTIFACT}` artifact); "
            "it may have failed, or been trained with tracking.log_model=false."
        )
    version = register_run_model(client, name, run_id)
    client.set_registered_model_alias(name, alias, version.version)
    return version


def finished_training_runs_hint(client: mlflow.MlflowClient) -> str:
    """The newest runs a model can come from: training runs that finished and logged their model.

    A run trained with ``tracking.log_model=false`` finished without one, so it is left out (its
    param says so; listing each run's artifacts would cost a store request per run).
    """
    return recent_runs_hint(client, _logged_a_model, "finished training runs")


def _logged_a_model(run: Run) -> bool:
    """Whether ``run`` is a finished training run that logged its model."""
    return (run.info.status == "FINISHED" and OUTPUT_DIR_TAG in run.data.tags
            and run.data.params.get("tracking.log_model") != "False")
