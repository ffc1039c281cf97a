"""Sweeps in MLflow: one parent run per multirun, one child run per job, and a sweep report.

:class:`MlflowSweepCallback` is a Hydra callback (``conf/hydra/default.yaml``):

* ``on_multirun_start`` creates the parent run (or, for an Optuna search shared
  by several workers or resumed, the one recorded in the study database) and
  exports its id in ``$DIGITS_PARENT_RUN_ID``; every job's run then carries
  MLflow's ``mlflow.parentRunId`` tag, so the UI nests the jobs under it;
* ``on_job_end`` and ``on_multirun_end`` rebuild the report from the child
  runs: a CSV and Markdown table of every job's swept values and metrics,
  sorted by the optimised metric, the best run's id as a tag, and a plot
  (metric against each swept parameter, or a heatmap for a 2-D grid).

The report is rebuilt after every job, so it exists even if a sweep dies.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from hydra.experimental.callback import Callback  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mlflow.entities import Run, RunStatus  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from digit_experiments import tracking  # noqa: E402
from digit_experiments.hpo.pruning import open_storage  # noqa: E402
from digit_experiments.training.selection import resolve_mode  # noqa: E402

log = logging.getLogger(__name__)

#: Params that differ between jobs without being swept values.
NOT_SWEPT = {"paths.output_dir", "optuna.trial_id", "optuna.trial_number"}
#: Optuna study user attribute holding the id of the search's MLflow parent run.
PARENT_RUN_ATTR = "mlflow_parent_run_id"
#: How long a worker waits for another worker that is creating the study's parent run.
PARENT_WAIT_SECONDS = 60.0


def sweep_id(config: DictConfig) -> str:
    """What identifies one sweep: the Optuna study (shared by workers) or the sweep directory."""
    sweeper = config.hydra.sweeper
    if "study_name" in sweeper and sweeper.study_name:
        return f"optuna:{sweeper.study_name}"
    return f"grid:{Path(config.hydra.sweep.dir).absolute()}"


def _client(config: DictConfig) -> tuple[mlflow.MlflowClient, str]:
    """A client on the run config's store and the experiment id (created if needed)."""
    tracking_config = OmegaConf.to_container(config.tracking, resolve=True)
    experiment_id = tracking.use_experiment(tracking_config)
    return mlflow.MlflowClient(tracking.tracking_uri(tracking_config["uri"])), experiment_id


def open_parent_run(config: DictConfig) -> str:
    """Create the sweep's parent run; an Optuna search reuses its study's one (see :func:`_study_parent_run`)."""
    client, experiment_id = _client(config)
    if sweep_id(config).startswith("optuna:"):
        return _study_parent_run(config, client, experiment_id)
    return _create_parent_run(config, client, experiment_id)


def _create_parent_run(config: DictConfig, client: mlflow.MlflowClient, experiment_id: str) -> str:
    """A new parent run tagged with the sweep's identity and overrides."""
    identity = sweep_id(config)
    overrides = " ".join(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    run = client.create_run(
        experiment_id,
        run_name=f"sweep {identity.split(':', 1)[1].rsplit('/', 1)[-1]}",
        tags={"sweep.id": identity, "sweep.overrides": overrides, "sweep.role": "parent", **tracking.git_tags()},
    )
    client.log_param(run.info.run_id, "sweep.overrides", overrides[: tracking.MAX_PARAM_LENGTH])
    client.log_param(run.info.run_id, "optimized_metric", config.optimized_metric)
    client.log_param(run.info.run_id, "optimized_mode", resolve_mode(config.optimized_metric, config.optimized_mode))
    return run.info.run_id


def _study_parent_run(config: DictConfig, client: mlflow.MlflowClient, experiment_id: str) -> str:
    """The one parent run of an Optuna study, shared by every worker and every resumed session.

    Workers of one search may start at the same instant, so "search for the
    parent, create it if missing" would race. The study database decides
    instead: creating a study is atomic, so exactly one worker creates it, and
    that worker creates the parent run and records its id as a study user
    attribute (:data:`PARENT_RUN_ATTR`); the others wait for the attribute.
    """
    sweeper = config.hydra.sweeper
    storage = open_storage(sweeper.storage)
    try:
        study = optuna.create_study(study_name=sweeper.study_name, storage=storage, direction=sweeper.direction)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=sweeper.study_name, storage=storage)
        run_id = _wait_for_parent_attr(study)
        if run_id and _reopen(client, run_id):
            return run_id
        log.info("Study %s has no parent run in this MLflow store; creating one.", sweeper.study_name)
    run_id = _create_parent_run(config, client, experiment_id)
    study.set_user_attr(PARENT_RUN_ATTR, run_id)
    return run_id


def _wait_for_parent_attr(study: optuna.Study) -> str | None:
    """The parent run id recorded in ``study``, waiting for a worker that is creating it right now.

    A study that already has trials but no parent id (made by hand, or its
    creator died) is not waited for.
    """
    deadline = time.monotonic() + PARENT_WAIT_SECONDS
    while True:
        run_id = study.user_attrs.get(PARENT_RUN_ATTR)
        if run_id or study.get_trials(deepcopy=False) or time.monotonic() > deadline:
            return run_id
        time.sleep(0.5)


def _reopen(client: mlflow.MlflowClient, run_id: str) -> bool:
    """Mark an existing parent run RUNNING again; False when this store has no such run."""
    try:
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    except mlflow.exceptions.MlflowException:
        return False
    return True


def child_runs(client: mlflow.MlflowClient, parent_id: str) -> list[Run]:
    """Every job run of the sweep."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")


def swept_keys(runs: list[Run]) -> list[str]:
    """The params whose values differ between jobs: the swept values."""
    keys = set().union(*(run.data.params for run in runs)) - NOT_SWEPT
    return sorted(k for k in keys if len({run.data.params.get(k) for run in runs}) > 1)


def report_rows(runs: list[Run], metric: str, mode: str = "auto") -> tuple[list[str], list[dict[str, Any]]]:
    """One row per job: run id, status, swept values and final metrics, best first (by ``metric`` and ``mode``)."""
    keys = swept_keys(runs)
    best_key = f"best_{metric}"
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run_id": run.info.run_id, "status": run.data.tags.get("trial.state", run.info.status)}
        row.update({key: run.data.params.get(key) for key in keys})
        for name in (best_key, "test_accuracy", "test_loss", "epochs_trained"):
            row[name] = run.data.metrics.get(name, math.nan)
        rows.append(row)
    sign = 1.0 if resolve_mode(metric, mode) == "min" else -1.0
    rows.sort(key=lambda r: (math.isnan(r[best_key]), sign * (0.0 if math.isnan(r[best_key]) else r[best_key])))
    return keys, rows


def as_markdown(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows."""
    if not rows:
        return "No jobs recorded.\n"
    columns = list(rows[0])
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text."""
    import csv
    import io

    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _number(value: Any) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def sweep_plot(keys: list[str], rows: list[dict[str, Any]], metric: str) -> Figure:
    """A heatmap of the metric for a 2-D grid, else the metric against each swept parameter."""
    best_key = f"best_{metric}"
    done = [r for r in rows if not math.isnan(r[best_key])]
    if len(keys) == 2:
        xs = sorted({r[keys[0]] for r in done}, key=_number)
        ys = sorted({r[keys[1]] for r in done}, key=_number)
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in done:
            grid[ys.index(r[keys[1]]), xs.index(r[keys[0]])] = r[best_key]
        if len(done) == len(xs) * len(ys):
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
    """Build the report from the child runs and log it to the parent run; return its rows."""
    runs = child_runs(client, parent_id)
    keys, rows = report_rows(runs, metric, mode)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "sweep_report.csv").write_text(as_csv(rows))
        Path(folder, "sweep_report.md").write_text(as_markdown(rows))
        if rows:
            figure = sweep_plot(keys, rows, metric)
            figure.savefig(Path(folder, "sweep_plot.png"), dpi=100)
            plt.close(figure)
        client.log_artifacts(parent_id, folder, "report")
    best = next((r for r in rows if not math.isnan(r[f"best_{metric}"])), None)
    if best is not None:
        client.set_tag(parent_id, "best_run_id", best["run_id"])
        client.log_metric(parent_id, f"best_{metric}", best[f"best_{metric}"])
    client.set_tag(parent_id, "sweep.jobs", str(len(rows)))
    client.set_tag(parent_id, "sweep.failed_jobs", str(sum(r["status"] == "FAILED" for r in rows)))
    return rows


class MlflowSweepCallback(Callback):
    """Hydra callback that groups a multirun's jobs under one MLflow parent run with a report."""

    def __init__(self) -> None:
        self.parent_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Open the parent run, or stop the sweep: Hydra would only warn about an exception here
        and run every job un-nested, with no report."""
        try:
            self.parent_id = open_parent_run(config)
        except Exception as error:
            uri = tracking.tracking_uri(config.tracking.uri)
            raise SystemExit(
                f"\nError: the sweep could not open its MLflow parent run in {uri} "
                f"({type(error).__name__}: {str(error)[:500]}). No job was started. Check that the "
                "tracking store is reachable (tracking.uri or $MLFLOW_TRACKING_URI) and run the sweep again."
            ) from error
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_id
        log.info("Sweep parent run %s", self.parent_id)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        parent_id = os.environ.get(tracking.PARENT_RUN_ENV)
        if parent_id:
            client, _ = _client(config)
            write_report(client, parent_id, config.optimized_metric, config.optimized_mode)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_id is None:
            return
        client, _ = _client(config)
        rows = write_report(client, self.parent_id, config.optimized_metric, config.optimized_mode)
        failed = sum(r["status"] == "FAILED" for r in rows)
        status = RunStatus.FAILED if rows and failed == len(rows) else RunStatus.FINISHED
        client.set_terminated(self.parent_id, RunStatus.to_string(status))
        os.environ.pop(tracking.PARENT_RUN_ENV, None)
        report = client.get_run(self.parent_id).info.artifact_uri
        log.info("Sweep finished: %d jobs, %d failed. Report: %s/report", len(rows), failed, report)
        if failed:
            log.warning("%d of %d sweep jobs failed; see the report and the FAILED child runs.", failed, len(rows))
