"""A sweep's report, built from its child runs and logged to its parent run.

Under ``report/`` in the parent run: ``sweep_report.csv`` and
``sweep_report.md`` (one row per job: run id, status, swept values and final
metrics, best first) and ``sweep_plot.png`` (the metric against each swept
parameter, or a heatmap for a complete 2-D grid). The parent run also gets the
tag ``best_run_id`` and the metric ``best_<optimized_metric>``. The report is
rebuilt after every job, so it exists while a sweep runs and if it dies.
``sweep:<parent run id>`` model references rank jobs with :func:`report_rows`.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mlflow.entities import Run  # noqa: E402

from digit_experiments.core.errors import UserError  # noqa: E402
from digit_experiments.core.tables import csv_text, markdown_table  # noqa: E402
from digit_experiments.tracking.listing import recent_runs_hint  # noqa: E402
from digit_experiments.tracking.tags import SWEEP_ROLE_TAG, stopped_before_training  # noqa: E402
from digit_experiments.training.selection import reads_validation, resolve_mode  # noqa: E402

logger = logging.getLogger(__name__)

#: Params that differ between jobs without being swept values.
NOT_SWEPT = {"paths.output_dir", "optuna.trial_id", "optuna.trial_number"}
#: Folder of the report's artifacts in the parent run.
REPORT_FOLDER = "report"


#: Model references ``sweep:<parent run id>`` stand for a sweep's best jobs.
SWEEP_PREFIX = "sweep:"


def child_runs(client: mlflow.MlflowClient, parent_id: str) -> list[Run]:
    """Every job run of a sweep.

    Args:
        client: A client on the sweep's tracking store.
        parent_id: The sweep's parent run.

    Returns:
        The runs tagged ``mlflow.parentRunId=<parent_id>``.
    """
    experiment_id = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")


def sweep_parent_id(reference: str) -> str | None:
    """The parent run id of a ``sweep:<parent run id>`` model reference; None for any other reference."""
    return reference[len(SWEEP_PREFIX):].strip("/") if reference.startswith(SWEEP_PREFIX) else None


def best_job_ids(client: mlflow.MlflowClient, parent_run_id: str, top: int, count_key: str | None = "top") -> list[str]:
    """Run ids of the ``top`` best finished jobs of a sweep, best first, ranked as its report ranks them.

    The ranking is the sweep's own optimised metric at each job's selected
    epoch (validation data), never a test score.

    Args:
        client: A client on the sweep's tracking store.
        parent_run_id: The sweep's parent run.
        top: How many jobs to return.
        count_key: The caller's option that sets ``top``, named in the log line; None for a caller without one.

    Raises:
        UserError: when the parent run does not exist or has no finished job, or
            when ``top`` would choose among jobs by a training metric (refits).
    """
    try:
        parent = client.get_run(parent_run_id)
    except Exception as error:  # noqa: BLE001  (MLflow raises several types for a missing run)
        sweeps = recent_runs_hint(client, lambda run: run.data.tags.get(SWEEP_ROLE_TAG) == "parent", "sweep parent runs")
        raise UserError(f"No sweep parent run {parent_run_id!r} in {client.tracking_uri}: {error}. {sweeps}") from error
    metric = parent.data.params.get("optimized_metric", "val_accuracy")
    finished = [run for run in child_runs(client, parent_run_id) if run.info.status == "FINISHED"]
    _, rows = report_rows(finished, metric, parent.data.params.get("optimized_mode", "auto"))
    ranked = [row["run_id"] for row in rows if not math.isnan(row[f"best_{metric}"])]
    if not ranked:
        raise UserError(
            f"Sweep {parent_run_id} has no finished job with a best_{metric} to rank by ({len(finished)} finished). "
            "Wait for a job to finish, or check that the sweep's jobs log the metric it optimises."
        )
    validated = reads_validation(metric)
    if not validated and top < len(ranked):
        raise UserError(
            f"Sweep {parent_run_id} optimises `{metric}`, not a validation metric (its jobs kept no validation set, as "
            f"a refit does), so ranking them would choose on training data. Take all {len(ranked)} finished jobs "
            f"(`top={len(ranked)}` in evaluate and predict; `promote`, which takes one model, needs one job's run id), "
            "name a run id, or rank the validated sweep of the same recipe."
        )
    best = ranked[:top]
    unranked = len(finished) - len(ranked)
    logger.info("Sweep %s: the %d best of its %d finished jobs, ranked by best_%s (%s)%s%s.",
                parent_run_id, len(best), len(finished), metric, "validation" if validated else "training: all taken",
                f", {unranked} without it left out" if unranked else "", f"; `{count_key}` sets how many" if count_key else "")
    return best


def swept_keys(runs: Sequence[Run]) -> list[str]:
    """The params whose values differ between jobs: the swept values, sorted.

    A job that stopped before training (:func:`~digit_experiments.tracking.tags.stopped_before_training`)
    logged its config but not what training adds (``model.parameters``,
    ``data.<source>.*``): a param it lacks is no difference. For every other
    job a missing param is one (a grid over ``augment=none,seed``).
    """
    keys = set().union(*(run.data.params for run in runs)) - NOT_SWEPT

    def values(key: str) -> set[str | None]:
        return {run.data.params.get(key) for run in runs if key in run.data.params or not stopped_before_training(run)}

    return sorted(key for key in keys if len(values(key)) > 1)


def report_rows(runs: Sequence[Run], metric: str, mode: str = "auto") -> tuple[list[str], list[dict[str, Any]]]:
    """One row per job: run id, status, swept values and final metrics, best first.

    Args:
        runs: The sweep's job runs.
        metric: The optimised metric; rows are ranked by ``best_<metric>``, jobs without it last.
        mode: ``min``, ``max`` or ``auto`` (see :func:`~digit_experiments.training.selection.resolve_mode`).

    Returns:
        The swept keys and the rows.
    """
    keys = swept_keys(runs)
    best_key = f"best_{metric}"
    rows = [_row(run, keys, best_key) for run in runs]
    sign = 1.0 if resolve_mode(metric, mode) == "min" else -1.0
    rows.sort(key=lambda r: (math.isnan(r[best_key]), sign * (0.0 if math.isnan(r[best_key]) else r[best_key])))
    return keys, rows


def _row(run: Run, keys: list[str], best_key: str) -> dict[str, Any]:
    """One job's report row; a pruned Optuna trial's status is its ``trial.state``."""
    row: dict[str, Any] = {"run_id": run.info.run_id, "status": run.data.tags.get("trial.state", run.info.status)}
    row.update({key: run.data.params.get(key) for key in keys})
    for name in (best_key, "test_accuracy", "test_loss", "epochs_trained"):
        row[name] = run.data.metrics.get(name, math.nan)
    return row


def failed_jobs(rows: Sequence[dict[str, Any]]) -> int:
    """How many of the report's jobs failed (an Optuna job's status is its trial state, FAIL)."""
    return sum(row["status"] in ("FAILED", "FAIL") for row in rows)


def sweep_plot(keys: list[str], rows: list[dict[str, Any]], metric: str) -> Figure:
    """A heatmap of the metric for a complete 2-D grid, else the metric against each swept parameter.

    Args:
        keys: The swept keys.
        rows: The report rows (:func:`report_rows`); jobs without the metric are left out.
        metric: The optimised metric.

    Returns:
        The figure; the caller closes it.
    """
    best_key = f"best_{metric}"
    done = [r for r in rows if not math.isnan(r[best_key])]
    heatmap = _heatmap(keys, done, best_key) if len(keys) == 2 else None
    return heatmap if heatmap is not None else _scatter(keys, done, best_key)


def _number(value: Any) -> float | str:
    """A param value as a float when it is one (to sort and plot it as a number), else as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _heatmap(keys: list[str], done: list[dict[str, Any]], best_key: str) -> Figure | None:
    """The metric over a 2-D grid, one annotated cell per job; None unless every cell has a job."""
    xs = sorted({r[keys[0]] for r in done}, key=_number)
    ys = sorted({r[keys[1]] for r in done}, key=_number)
    if len(done) != len(xs) * len(ys):
        return None
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in done:
        grid[ys.index(r[keys[1]]), xs.index(r[keys[0]])] = r[best_key]
    fig, ax = plt.subplots(figsize=(1.6 * len(xs) + 2.5, 1.2 * len(ys) + 1.8))
    image = ax.imshow(grid, cmap="viridis", origin="lower")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    for (y, x), value in np.ndenumerate(grid):
        ax.text(x, y, f"{value:.4f}", ha="center", va="center", color="w", fontsize=8)
    ax.set(xlabel=keys[0], ylabel=keys[1], title=best_key)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def _scatter(keys: list[str], done: list[dict[str, Any]], best_key: str) -> Figure:
    """The metric against each swept parameter, one panel each (log x axis for a wide positive range)."""
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.5 * max(1, len(keys)), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = [_number(r[key]) for r in done]
        ax.scatter(values if all(isinstance(v, float) for v in values) else [str(v) for v in values],
                   [r[best_key] for r in done])
        if all(isinstance(v, float) and v > 0 for v in values) and len(set(values)) > 1 and max(values) / min(values) > 50:
            ax.set_xscale("log")
        ax.set(xlabel=key, ylabel=best_key)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_report(client: mlflow.MlflowClient, parent_id: str, metric: str, mode: str = "auto") -> list[dict[str, Any]]:
    """Build the report from the child runs and log it, with the best run and job counts, to the parent run.

    Args:
        client: A client on the sweep's tracking store.
        parent_id: The sweep's parent run.
        metric: The optimised metric.
        mode: ``min``, ``max`` or ``auto``.

    Returns:
        The report rows, best first.
    """
    keys, rows = report_rows(child_runs(client, parent_id), metric, mode)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "sweep_report.csv").write_text(csv_text(rows))
        Path(folder, "sweep_report.md").write_text(markdown_table(rows, empty="No jobs recorded."))
        if rows:
            figure = sweep_plot(keys, rows, metric)
            figure.savefig(Path(folder, "sweep_plot.png"), dpi=100)
            plt.close(figure)
        client.log_artifacts(parent_id, folder, REPORT_FOLDER)
    best = next((r for r in rows if not math.isnan(r[f"best_{metric}"])), None)
    if best is not None:
        client.set_tag(parent_id, "best_run_id", best["run_id"])
        client.log_metric(parent_id, f"best_{metric}", best[f"best_{metric}"])
    client.set_tag(parent_id, "sweep.jobs", str(len(rows)))
    client.set_tag(parent_id, "sweep.failed_jobs", str(failed_jobs(rows)))
    return rows
