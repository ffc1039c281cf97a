"""The ensemble command pair through the real CLIs: train members of differing recipes with one multirun, score them with one evaluate."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from helpers import run_cli

pytestmark = pytest.mark.e2e


def test_ensemble_recipe_trains_members_and_evaluate_logs_on_the_parent(data_dir: Path, tmp_path: Path) -> None:
    small = ["debug=smoke", "model=tiny", "dataset.max_train_images=400", "epochs=2",
             "dataset.max_test_images_per_source=200", "trainer.verbose=0"]
    members = ["ensemble_member=deskew,elastic", "seed=1"]
    trained = run_cli("digit_experiments.train", ["-m", "experiment=ensemble", *members, *small], cwd=tmp_path, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get("sweep.role") == "parent"]
    members = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    recipes = {(run.data.params["model.deskew"], run.data.params["augment.albumentations.mode"]) for run in members}
    assert recipes == {("True", "off"), ("False", "realtime")}, "the deskew and elastic members, one job each"
    assert {run.data.params["dataset.split_seed"] for run in members} == {"42"}, "one validation set for all members"

    scored = run_cli(
        "digit_experiments.evaluate",
        [f"model_uri=sweep:{parent.info.run_id}", "top=2", "tta=true", "log=true", "dataset.max_test_images_per_source=200"],
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert f"Sweep {parent.info.run_id}: the 2 best of its 2 finished jobs, ranked by best_val_loss" in scored.stderr
    parent = client.get_run(parent.info.run_id)
    assert parent.data.metrics["ensemble_members"] == 2
    assert 0.0 < parent.data.metrics["ensemble_test_accuracy"] <= 1.0
    evaluation = client.get_run(parent.data.tags["ensemble.evaluation_run_id"])
    assert evaluation.data.metrics["test_accuracy"] == parent.data.metrics["ensemble_test_accuracy"]

    first, second = (f"runs:/{run.info.run_id}/model" for run in members)
    compared = run_cli(
        "digit_experiments.evaluate",
        [f"model_uri={first}", f"baseline={second}", "log=true", "dataset.max_test_images_per_source=200"], cwd=tmp_path,
    )
    assert compared.returncode == 0, compared.stderr[-3000:]
    header, _, row = compared.stdout.split("McNemar")[1].strip().splitlines()[1:4]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["source"] == "mnist" and cells["n"] == "200"
    only_model, only_baseline = int(cells["only_model_right"]), int(cells["only_baseline_right"])
    assert float(cells["accuracy"]) - float(cells["baseline_accuracy"]) == pytest.approx((only_model - only_baseline) / 200, abs=1e-3)
    (logged,) = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`evaluation.baseline_uri` = '{second}'"
    )
    assert logged.data.metrics["baseline_mnist_accuracy"] == pytest.approx(float(cells["baseline_accuracy"]), abs=1e-4)
    assert 0.0 < logged.data.metrics["comparison_mnist_p_value"] <= 1.0

    promoted = run_cli("digit_experiments.promote", [f"run=sweep:{parent.info.run_id}", "name=ensemble-best"], cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert "the 1 best of its 2 finished jobs" in promoted.stderr and "`top`" not in promoted.stderr, "promote has no `top`"
    assert promoted.stdout.strip() == "models:/ensemble-best@champion"
    champion = client.get_model_version_by_alias("ensemble-best", "champion")
    assert champion.run_id == parent.data.tags["best_run_id"], "the sweep's best job by validation, as its report ranks it"
