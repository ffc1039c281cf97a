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
from typing import Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup

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
    from digit_experiments.hpo.report import best_job_ids, sweep_parent_id
    from digit_experiments.tracking import registry

    name = registry.check_name(config["name"], "name")
    alias = registry.check_alias(config["alias"])
    tracking.connect(config["tracking"])
    client = mlflow.MlflowClient()
    run_id = _run_id(str(config["run"]).strip())
    parent_id = sweep_parent_id(run_id)
    if parent_id is not None:
        (run_id,) = best_job_ids(client, parent_id, 1)
        log.info("The sweep's best job is run %s.", run_id)
    version = registry.promote(client, name, run_id, alias)
    uri = f"models:/{name}@{alias}"
    log.info("%s is now version %s of %s (run %s).", uri, version.version, name, run_id)
    print(uri, flush=True)
    return uri


def _run_id(run: str) -> str:
    """The ``run`` value as a run id: a ``runs:/<run id>/...`` URI stands for its run (``sweep:`` is left as it is)."""
    from digit_experiments.inference.model_uris import runs_uri_parts  # mlflow only: no TensorFlow

    run_id, _ = runs_uri_parts(run)
    if run_id is None:
        return run
    log.info("Promoting run %s, named by %s.", run_id, run)
    return run_id


@startup.hydra_command("promote")
def main(cfg: DictConfig) -> None:
    """Promote as configured; a user mistake exits with status 2 and one paragraph."""
    startup.run_command(promote, cfg)


if __name__ == "__main__":
    main()
