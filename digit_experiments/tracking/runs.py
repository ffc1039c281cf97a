"""A tracked run that always ends with an honest status."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping

import mlflow
from mlflow.entities import RunStatus

from digit_experiments.tracking.store import use_experiment

#: Set by the sweep callback: the id of the sweep's parent run.
PARENT_RUN_ENV = "DIGITS_PARENT_RUN_ID"


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
