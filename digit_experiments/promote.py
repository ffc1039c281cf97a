"""Entry point: ``python -m digit_experiments.promote run=<run id | sweep:<parent id>> name=<model> [alias=champion]``.

Points the registered model's alias at the run's model version (registering
it first when needed) and prints the URI that now reaches it,
``models:/<name>@<alias>``. A model URI ``run=runs:/<run id>/model`` stands
for its run id. A user mistake (an unknown run, a run without a model, a bad
name or alias) is one paragraph and exit status 2.

A thin Hydra wrapper: the work is in :mod:`digit_experiments.tracking.registry`;
TensorFlow is never imported.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup
from digit_experiments.core.errors import UserError

if TYPE_CHECKING:  # mlflow loads only when the command runs
    import mlflow

log = logging.getLogger("digit_experiments")
startup.register_resolvers()


def promote(config: Mapping[str, Any]) -> str:
    """Promote the configured run and print ``models:/<name>@<alias>``.

    Args:
        config: The resolved ``conf/promote.yaml`` as a plain dict.

    Returns:
        The ``models:/<name>@<alias>`` URI.
    """
    import mlflow

    from digit_experiments import tracking
    from digit_experiments.hpo.report import sweep_parent_id
    from digit_experiments.tracking import registry

    name = registry.check_name(config["name"], "name")
    alias = registry.check_alias(config["alias"])
    tracking.connect(config["tracking"])
    client = mlflow.MlflowClient()
    run = str(config["run"]).strip()
    parent_id = sweep_parent_id(run)
    run_id = _run_id(client, run) if parent_id is None else _best_job(client, parent_id)
    version = registry.promote(client, name, run_id, alias)
    uri = f"models:/{name}@{alias}"
    log.info("%s is now version %s of %s (run %s).", uri, version.version, name, run_id)
    print(uri, flush=True)
    return uri


def _run_id(client: mlflow.MlflowClient, run: str) -> str:
    """The ``run`` value as a run id: a ``runs:/<run id>/model`` (or ``runs:/<run id>``) URI stands for its run.

    Promote registers the run's ``model`` artifact, so a URI whose artifact path the run lacks (a typo,
    ``runs:/<id>/modle``) or whose scheme is misspelt (``run:/``) is refused as evaluate and predict refuse
    it, not promoted as if it were right (nor looked up as a run id).

    Raises:
        UserError: naming the run's artifacts and the URI to pass.
    """
    from digit_experiments.inference.model_uris import missing_run_artifact, misspelt_scheme, runs_uri_parts  # mlflow only

    run_id, artifact_path = runs_uri_parts(run)
    if run_id is None:
        problem = misspelt_scheme(run)
    else:
        problem = missing_run_artifact(client, run, key="run") if artifact_path else None
    if problem:
        raise UserError(f"Cannot promote {run!r}: {problem}")
    if run_id is None:
        return run
    log.info("Promoting run %s, named by %s.", run_id, run)
    return run_id


def _best_job(client: mlflow.MlflowClient, parent_id: str) -> str:
    """The run id of the best job of sweep ``parent_id``, ranked as ``evaluate model_uri=sweep:...`` ranks them.

    Raises:
        UserError: when ``parent_id`` is one of a sweep's jobs (naming its parent), or has no finished job to rank.
    """
    from digit_experiments.hpo.report import best_job_ids
    from digit_experiments.inference.model_uris import sweep_job_problem  # mlflow only: no TensorFlow

    problem = sweep_job_problem(client, parent_id, "run", parent_id)
    if problem:
        raise UserError(f"Cannot promote `sweep:{parent_id}`: {problem}")
    (run_id,) = best_job_ids(client, parent_id, 1, count_key=None)  # promote takes one model: no `top` to set
    log.info("The sweep's best job is run %s.", run_id)
    return run_id


@startup.hydra_command("promote")
def main(cfg: DictConfig) -> None:
    """Promote as configured; a user mistake exits with status 2 and one paragraph."""
    startup.run_command(promote, cfg)


if __name__ == "__main__":
    main()
