"""Choosing a sweep's best jobs from a real MLflow store: ranked on validation, and counted honestly."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.hpo.report import best_job_ids, failed_jobs, report_rows, swept_keys
from digit_experiments.tracking.tags import STOPPED_BEFORE_TRAINING_TAG


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


def jobs_with_params(tracking_uri: str, jobs: list[tuple[dict[str, str], dict[str, str]]]) -> list:
    """Finished runs of one experiment with the given (params, tags), read back as MLflow returns them."""
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("jobs")
    for params, tags in jobs:
        run_id = client.create_run(experiment_id, tags=tags).info.run_id
        for key, value in params.items():
            client.log_param(run_id, key, value)
    return client.search_runs([experiment_id])


def test_a_param_only_some_started_jobs_have_is_swept(tmp_path: Path) -> None:
    """A grid over whole options (``augment=none,seed``): the keys one option has and the other lacks tell them apart."""
    runs = jobs_with_params(f"sqlite:///{tmp_path / 'mlflow.db'}", [
        ({"augment.geometric.rotation_degrees": "10", "seed": "42"}, {}),
        ({"seed": "42"}, {}),
    ])
    assert swept_keys(runs) == ["augment.geometric.rotation_degrees"]


def test_what_training_adds_is_not_swept_against_a_job_that_stopped_before_training(tmp_path: Path) -> None:
    runs = jobs_with_params(f"sqlite:///{tmp_path / 'mlflow.db'}", [
        ({"model.dense_dropout": "0.3", "model.parameters": "934064"}, {}),
        ({"model.dense_dropout": "0.5", "model.parameters": "934064"}, {}),
        ({"model.dense_dropout": "1.5"}, {STOPPED_BEFORE_TRAINING_TAG: "true"}),
    ])
    assert swept_keys(runs) == ["model.dense_dropout"]
    rows = report_rows(runs, "val_loss")[1]
    assert sorted(row["model.dense_dropout"] for row in rows) == ["0.3", "0.5", "1.5"]


def test_a_failed_optuna_trial_counts_as_a_failed_job() -> None:
    assert failed_jobs([{"status": "FAIL"}, {"status": "FAILED"}, {"status": "PRUNED"}, {"status": "COMPLETE"}]) == 2
