"""Refit (`refit=all_data`): a recipe trained once more on its whole pool, keeping its last epoch."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pytest

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.core.validation import validate
from digit_experiments.dataset import load_dataset
from digit_experiments.hpo.report import best_job_ids
from digit_experiments.training import experiment
from digit_experiments.training.callbacks import CHECKPOINT_FILE

from helpers import compose_config, run_config


@pytest.mark.parametrize("recipe", ["fast", "fast_ema", "robust"])
def test_a_recipe_with_a_fixed_schedule_refits_on_the_whole_pool_and_selects_nothing(recipe: str) -> None:
    config = validate(compose_config([f"experiment={recipe}", "refit=all_data", "paths.output_dir=/tmp/unused"]))
    assert config["dataset"]["val_fraction"] == 0 and config["optimized_metric"] == "loss"
    assert not any(config["callbacks"].get(name) for name in ("model_checkpoint", "early_stopping", "reduce_lr_on_plateau"))
    assert config["epochs"] == 20, "the recipe's length, fixed by its validated runs"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["refit=all_data"], ["`callbacks.early_stopping`", "`callbacks.reduce_lr_on_plateau`"]),
        (["experiment=fast", "dataset.val_fraction=0"], ["`optimized_metric=val_loss`", "`callbacks.model_checkpoint`"]),
        (["experiment=fast", "refit=all_data", "+callbacks.early_stopping={patience: 3}"], ["`callbacks.early_stopping`"]),
        # No `monitor` key: Keras's ReduceLROnPlateau then watches val_loss.
        (["experiment=fast", "refit=all_data", "optimizer.schedule=null", "callbacks.reduce_lr_on_plateau={factor: 0.5}"],
         ["`callbacks.reduce_lr_on_plateau`"]),
    ],
)
def test_a_refit_that_would_read_validation_metrics_is_refused_by_name(overrides: list[str], named: list[str]) -> None:
    """The seed recipe's plateau schedule and early stopping need validation loss, so it cannot be refitted as it is."""
    with pytest.raises(ConfigError, match="leaves no validation set") as raised:
        validate(compose_config([*overrides, "paths.output_dir=/tmp/unused"]))
    for name in named:
        assert name in str(raised.value)


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_val_fraction_outside_zero_to_one_names_the_key(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"`dataset.val_fraction`.*\[0, 1\)"):
        validate(compose_config([f"dataset.val_fraction={fraction}", "paths.output_dir=/tmp/unused"]))


def test_no_validation_fraction_trains_on_every_pool_image(tmp_path: Path) -> None:
    validated = load_dataset({"embedded": {}}, tmp_path, seed=0)
    refit = load_dataset({"embedded": {}}, tmp_path, seed=0, val_fraction=0)
    assert len(refit.val_labels) == 0 and refit.source_counts["embedded"]["val"] == 0
    assert len(refit.train_labels) == len(validated.train_labels) + len(validated.val_labels)
    pool = np.concatenate([validated.train_images, validated.val_images]).reshape(len(refit.train_labels), -1)
    assert sorted(map(bytes, pool)) == sorted(map(bytes, refit.train_images.reshape(len(refit.train_labels), -1)))


@pytest.mark.e2e
def test_a_refit_trains_without_validation_and_tests_its_last_epoch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    overrides = [
        "experiment=fast", "refit=all_data", "dataset=embedded", "model=tiny", "augment=none", "epochs=3",
        "dataset.max_train_images=300", "trainer.verbose=0",
    ]
    with caplog.at_level(logging.INFO, logger="digit_experiments.training.experiment"):
        returned = experiment.run(run_config(tmp_path, overrides))

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert run.info.status == "FINISHED"
    assert (run.data.params["data.embedded.train"], run.data.params["data.embedded.val"]) == ("300", "0")
    assert not any(key.startswith("val_") for key in run.data.metrics)
    losses = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)]
    assert len(losses) == 3 and run.data.metrics["best_epoch"] == 3 and returned == pytest.approx(losses[-1])
    assert "test_accuracy" in run.data.metrics
    assert "Kept the last epoch, 3," in caplog.text and "Selected epoch" not in caplog.text
    assert not (tmp_path / "output" / CHECKPOINT_FILE).exists(), "nothing is selected, so nothing is checkpointed"
    assert "model/MLmodel" in [a.path for a in client.list_artifacts(run.info.run_id, "model")]


def test_refitted_jobs_are_not_ranked_by_their_training_loss(tmp_path: Path) -> None:
    """`evaluate model_uri=sweep:<id> top=k` may take every refitted member, never choose among them."""
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("refits")
    parent = client.create_run(experiment_id, run_name="parent")
    client.log_param(parent.info.run_id, "optimized_metric", "loss")
    jobs = []
    for loss in (0.3, 0.2, 0.1):
        job = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent.info.run_id})
        client.log_metric(job.info.run_id, "best_loss", loss)
        client.set_terminated(job.info.run_id, "FINISHED")
        jobs.append(job.info.run_id)
    client.set_terminated(parent.info.run_id, "FINISHED")

    with pytest.raises(UserError, match=r"not a validation metric.*all 3 finished jobs \(`top=3`"):
        best_job_ids(client, parent.info.run_id, 2)
    assert sorted(best_job_ids(client, parent.info.run_id, 3)) == sorted(jobs)
