"""Naming the runs a user could have meant, for the errors about a run id the store does not hold.

A mistyped or stale id (``resume=``, ``model_uri=sweep:``/``runs:/``,
``promote run=``) used to get "no such run" and nothing more; the user then had
to open the MLflow UI to find the right one. These hints list the newest runs
that would have been accepted, and the MLflow command that lists them all.
"""

from __future__ import annotations

import datetime
import os
from typing import Callable

import mlflow
from mlflow.entities import Run

#: How many recent runs of every experiment a hint looks through.
RUNS_SEARCHED = 200


def recent_runs_hint(client: mlflow.MlflowClient, accepts: Callable[[Run], bool], kind: str, limit: int = 5) -> str:
    """One sentence naming the newest runs of the store that ``accepts``, newest first.

    Args:
        client: A client of the store the command read.
        accepts: Whether a run is one the command could have been given.
        kind: What such runs are, for the sentence ("runs that can be resumed").
        limit: How many runs to name.

    Returns:
        "Recent <kind>: <id> (<name>, <status>, started <time>); ...", then the
        ``mlflow runs list`` command that lists every run of this store; or a sentence saying the store holds none. Empty when the
        store cannot be searched, since the hint must never hide the real error.
    """
    try:
        experiments = client.search_experiments()
        runs = client.search_runs(
            [experiment.experiment_id for experiment in experiments],
            order_by=["attributes.start_time DESC"], max_results=RUNS_SEARCHED,
        )
    except Exception:  # noqa: BLE001  (the store may be the very thing that failed)
        return ""
    chosen = [run for run in runs if accepts(run)][:limit]
    if not chosen:
        return f"The store holds no {kind}."
    names = "; ".join(_describe(run) for run in chosen)
    experiment_ids = sorted({run.info.experiment_id for run in chosen})
    store = "" if os.environ.get("MLFLOW_TRACKING_URI") else f"MLFLOW_TRACKING_URI={client.tracking_uri} "
    listing = " or ".join(f"`{store}mlflow runs list --experiment-id {experiment_id}`" for experiment_id in experiment_ids)
    return f"Recent {kind}: {names}. {listing} lists every run, as does the MLflow UI."


def _describe(run: Run) -> str:
    """``<run id> (<run name>, <status>, started <local time>)``."""
    started = datetime.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
    return f"{run.info.run_id} ({run.info.run_name}, {run.info.status}, started {started})"
