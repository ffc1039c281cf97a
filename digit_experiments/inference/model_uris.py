"""Why a model URI reaches no model, in words that name the fix.

MLflow's own errors for a mistyped URI name neither the problem nor the fix:
``runs:/<id>`` without ``/model`` gives "Not a proper runs:/ URI", a run without
a logged model "Failed to download artifacts", and ``models:/<name>`` without a
version or alias "Logged model with ID ... not found", ``run:/<id>/model`` a list
of every artifact scheme MLflow knows, and ``sweep:<id>`` of a sweep's job "no
finished job". :mod:`.loading` (and ``promote``) ask these functions first, and
quote MLflow only when none applies.
"""

from __future__ import annotations

import difflib

import mlflow
from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from digit_experiments.tracking.registry import MODEL_ARTIFACT, finished_training_runs_hint


def runs_uri_parts(uri: str) -> tuple[str | None, str]:
    """The run id and artifact path of ``runs:/<run id>/<artifact path>`` (either may be empty); ``(None, "")`` else."""
    if not uri.startswith("runs:/"):
        return None, ""
    run_id, _, artifact_path = uri[len("runs:/"):].strip("/").partition("/")
    return run_id, artifact_path.strip("/")


def runs_uri_without_path(client: mlflow.MlflowClient, run_id: str) -> str:
    """Why ``runs:/<run id>`` names no model, and the URI to pass instead."""
    problem = (f"the URI lacks the artifact path: a runs:/ URI is `runs:/<run id>/<artifact path>`, and training logs "
               f"its model at `{MODEL_ARTIFACT}`, so pass `model_uri=runs:/{run_id}/{MODEL_ARTIFACT}`.")
    found = _run_artifacts(client, run_id)
    if found is None:
        return f"{problem} The store holds no run {run_id!r}, though. {finished_training_runs_hint(client)}"
    return problem if MODEL_ARTIFACT in found[1] else f"{problem} {_no_logged_model(client, *found)}"


def missing_run_artifact(client: mlflow.MlflowClient, uri: str, key: str = "model_uri") -> str | None:
    """Why a ``runs:/`` URI of an existing run reaches nothing: the run has no such artifact (often: no logged model).

    None for other URIs, for an unknown run (the caller names the store's runs) and when the artifact exists.
    ``key`` is the config key the URI was given in (``run`` for promote), for the URI to pass instead.
    """
    run_id, artifact_path = runs_uri_parts(uri)
    found = _run_artifacts(client, run_id) if run_id else None
    top = artifact_path.split("/")[0]
    if found is None or top in found[1]:
        return None
    run, artifacts = found
    if MODEL_ARTIFACT in artifacts:
        return (f"run {run_id} has no `{top}` artifact ({_listing(artifacts)}); its model is at `{MODEL_ARTIFACT}`: "
                f"pass `{key}=runs:/{run_id}/{MODEL_ARTIFACT}`.")
    return _no_logged_model(client, run, artifacts)


def misspelt_scheme(uri: str) -> str | None:
    """Why ``run:/...``, ``model:/...`` and the like reach nothing: the scheme is a near miss of ``runs:/`` or ``models:/``.

    MLflow answers such a URI with the list of every artifact scheme it knows. None for a URI whose
    scheme is right or no near miss (``s3://``, ``file:/``: MLflow's message then stands), and for no URI (a run id).
    """
    scheme, separator, rest = uri.partition(":/")
    if not separator or scheme in ("runs", "models"):
        return None
    near = difflib.get_close_matches(scheme.lower(), ["runs", "models"], n=1, cutoff=0.6)
    if not near:
        return None
    return (f"`{scheme}:/` is not a scheme MLflow knows; a run's model is `runs:/<run id>/{MODEL_ARTIFACT}` and a "
            f"registered one `models:/<name>/<version>`: pass `{near[0]}:/{rest}`.")


def sweep_job_problem(client: mlflow.MlflowClient, run_id: str, key: str, job_reference: str) -> str | None:
    """Why ``sweep:<run id>`` of one of a sweep's jobs reaches nothing: ``sweep:`` takes the sweep's parent run.

    A job carries MLflow's parent tag (``mlflow.parentRunId``); ranking the jobs *of the job* finds none.
    ``key`` is the config key the reference was given in, and ``job_reference`` how that key takes the
    job's own model (``runs:/<run id>/model`` for ``model_uri``, the run id for promote's ``run``).
    None for any other run, and for one the store cannot read (the caller names the store's sweeps).
    """
    try:
        parent_id = client.get_run(run_id).data.tags.get(MLFLOW_PARENT_RUN_ID)
    except Exception:  # noqa: BLE001  (an unknown run, or a store that failed: the caller's message covers both)
        return None
    if not parent_id:
        return None
    return (f"run {run_id} is a job of sweep {parent_id}, not the sweep's parent run, and `sweep:` takes the parent "
            f"run's id: pass `{key}=sweep:{parent_id}` to take the sweep's best, or `{key}={job_reference}` for this "
            "job's own model.")


def _no_logged_model(client: mlflow.MlflowClient, run: Run, artifacts: dict[str, bool]) -> str:
    """The sentences for a run that exists but holds no ``model`` artifact: why that happens, and what to pass."""
    return (
        f"Run {run.info.run_id} ({run.info.run_name}, {run.info.status}) has no logged model: it holds no "
        f"`{MODEL_ARTIFACT}` artifact ({_listing(artifacts)}). That happens when a run was trained with tracking.log_model=false or "
        f"stopped before training finished. Pass `runs:/<run id>/{MODEL_ARTIFACT}` of a run that logged one. "
        f"{finished_training_runs_hint(client)}"
    )


def _run_artifacts(client: mlflow.MlflowClient, run_id: str) -> tuple[Run, dict[str, bool]] | None:
    """A run and the names at the top of its artifacts (each with whether it is a folder); None when it cannot be read."""
    try:
        return client.get_run(run_id), {item.path: item.is_dir for item in client.list_artifacts(run_id)}
    except Exception:  # noqa: BLE001  (an unknown run, or a store that failed: the caller's message covers both)
        return None


def _listing(artifacts: dict[str, bool]) -> str:
    """``its artifacts: config/, plots/`` or ``it holds no artifacts at all``."""
    names = [name + ("/" if is_dir else "") for name, is_dir in sorted(artifacts.items())]
    return f"its artifacts: {', '.join(names)}" if names else "it holds no artifacts at all"


def missing_registered_version(client: mlflow.MlflowClient, uri: str) -> str | None:
    """Why a ``models:/`` URI reaches no model version: it names none (``models:/<name>``), or one the store lacks.

    None for other URIs, for a version or alias that exists (the caller then quotes MLflow's reason) and for
    ``models:/m-...``, MLflow's form for a logged model's id.
    """
    if not uri.startswith("models:/"):
        return None
    name, at, alias = uri[len("models:/"):].strip("/").partition("@")
    name, _, version = name.partition("/")
    registered = _registered_versions(client, name)
    if not (version or at):
        if registered is None and name.startswith("m-"):
            return None
        known = _registered_choices(name, *registered) if registered else _registered_models(client, name)
        return (f"a models:/ URI names a version or an alias of a registered model, `models:/{name}/<version>` or "
                f"`models:/{name}@<alias>`, and this one names neither. {known or ''}")
    if registered is None:
        return _registered_models(client, name)
    versions, aliases = registered
    if at and alias not in aliases:
        return f"registered model {name!r} has no alias {alias!r}. {_registered_choices(name, versions, aliases)}"
    if version.isdigit() and version not in versions:
        return f"registered model {name!r} has no version {version}. {_registered_choices(name, versions, aliases)}"
    return None


def _registered_versions(client: mlflow.MlflowClient, name: str) -> tuple[list[str], dict[str, str]] | None:
    """A registered model's versions, oldest first, and aliases (alias → version); None when the store has no such model."""
    try:
        aliases = {alias: str(number) for alias, number in client.get_registered_model(name).aliases.items()}
        versions = sorted((str(item.version) for item in client.search_model_versions(f"name = '{name}'")), key=int)
    except Exception:  # noqa: BLE001  (an unknown name, or a store that failed)
        return None
    return versions, aliases


def _registered_choices(name: str, versions: list[str], aliases: dict[str, str]) -> str:
    """A sentence naming a registered model's versions and aliases, and URIs that reach them."""
    if not versions:
        return f"Registered model {name!r} has no versions yet: `promote run=<run id> name={name}` adds one."
    named = ", ".join(f"{alias} (version {number})" for alias, number in sorted(aliases.items())) or "none"
    example = f"`models:/{name}/{versions[-1]}`" + (f" or `models:/{name}@{min(aliases)}`" if aliases else "")
    return f"Registered model {name!r} holds versions: {', '.join(versions)}; aliases: {named}. Pass e.g. {example}."


def _registered_models(client: mlflow.MlflowClient, name: str) -> str | None:
    """A sentence saying the store has no registered model ``name``, naming the ones it has; None when it cannot be read."""
    try:
        names = sorted(model.name for model in client.search_registered_models(max_results=20))
    except Exception:  # noqa: BLE001  (the store may be the very thing that failed: the caller quotes that)
        return None
    held = f"its registered models: {', '.join(names)}" if names else "it holds none"
    return (f"The store has no registered model named {name!r} ({held}). Point at the store that holds it with "
            f"tracking.uri=... or $MLFLOW_TRACKING_URI; training registers its model with tracking.register_as=<name>, "
            f"and `promote run=<run id> name=<name>` registers a run's model.")
