"""Choosing a sweep's best jobs from a real MLflow store: ranked on validation, and counted honestly."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.hpo.report import best_job_ids


def sweep(tracking_uri: str, best_val_losses: list[float | None]) -> str:
    """A finished sweep parent run with one finished job per value; None is a job that never logged the metric."""
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("sweep")
    parent = client.create_run(experiment_id, run_name="parent")
    client.log_param(parent.info.run_id, "optimized_metric", "val_loss")
    for index, value in enumerate(best_val_losses):
        job = client.create_run(experiment_id, run_name=f"job{index}", tags={"mlflow.parentRunId": parent.info.run_id})
        if value is not None:
            client.log_metric(job.info.run_id, "best_val_loss", value)
        client.set_terminated(job.info.run_id, "FINISHED")
    client.set_terminated(parent.info.run_id, "FINISHED")
    return parent.info.run_id


def test_best_jobs_are_ranked_by_the_metric_and_every_finished_job_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent_id = sweep(tracking_uri, [0.30, None, 0.10])
    client = mlflow.MlflowClient(tracking_uri)
    ranked = {client.get_run(run_id).data.metrics["best_val_loss"] for run_id in best_job_ids(client, parent_id, 5)}

    assert ranked == {0.10, 0.30}, "the job without the metric cannot be chosen"
    with caplog.at_level(logging.INFO, logger="digit_experiments.hpo.report"):
        (best,) = best_job_ids(client, parent_id, 1)
    assert client.get_run(best).data.metrics["best_val_loss"] == 0.10
    assert "the 1 best of its 3 finished jobs, ranked by best_val_loss (validation), 1 without it left out" in caplog.text


def test_a_sweep_whose_jobs_lack_the_metric_is_refused_with_the_count(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent_id = sweep(tracking_uri, [None, None])
    with pytest.raises(UserError, match=r"no finished job with a best_val_loss to rank by \(2 finished\)"):
        best_job_ids(mlflow.MlflowClient(tracking_uri), parent_id, 3)
