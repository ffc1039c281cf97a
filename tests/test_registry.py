"""The MLflow Model Registry on a real SQLite store: register at training, promote to `champion`, use it by name."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import mlflow
import pytest

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.tracking.registry import check_alias, promote, register_run_model
from digit_experiments.tracking.tags import SWEEP_ROLE_TAG

from helpers import post, run_cli, served_model
from helpers.runs import SmokeRun
from test_evaluate_predict import mnist_test_images

pytestmark = pytest.mark.e2e

NAME = "digits"
CHAMPION = f"models:/{NAME}@champion"


@pytest.fixture(scope="module")
def registered(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """A smoke training run with ``tracking.register_as=digits``, through the real CLI."""
    workdir = tmp_path_factory.mktemp("registry")
    trained = run_cli("digit_experiments.train", ["debug=smoke", f"tracking.register_as={NAME}", "trainer.verbose=0"], cwd=workdir)
    assert trained.returncode == 0, trained.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    return SmokeRun(workdir, client, run)


def test_training_with_register_as_registers_its_model(registered: SmokeRun) -> None:
    (version,) = registered.client.search_model_versions(f"name = '{NAME}'")
    assert version.run_id == registered.run_id and int(version.version) == 1
    assert version.source.endswith("/model")


def test_a_registration_delivered_twice_makes_one_version(registered: SmokeRun) -> None:
    """The journal retries records after an outage; registering the same run again finds its version."""
    again = register_run_model(registered.client, NAME, registered.run_id)
    assert int(again.version) == 1 and len(registered.client.search_model_versions(f"name = '{NAME}'")) == 1


def test_promote_points_champion_at_the_run_and_every_command_takes_it(registered: SmokeRun, data_dir: Path, tmp_path: Path) -> None:
    workdir = registered.workdir
    promoted = run_cli("digit_experiments.promote", [f"run={registered.run_id}", f"name={NAME}"], cwd=workdir)
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert promoted.stdout.strip() == CHAMPION
    assert registered.client.get_model_version_by_alias(NAME, "champion").run_id == registered.run_id

    evaluated = run_cli("digit_experiments.evaluate", [f"model_uri={CHAMPION}", "dataset.max_test_images_per_source=100"], cwd=workdir)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "mnist" in evaluated.stdout

    raw, _ = mnist_test_images(data_dir, 2)
    files = []
    for index, image in enumerate(raw):
        files.append(tmp_path / f"{index}.png")
        cv2.imwrite(str(files[-1]), image)
    predicted = run_cli("digit_experiments.predict", [f"model_uri={CHAMPION}", f"inputs={tmp_path}", "format=json"], cwd=workdir)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    by_predict = json.loads(predicted.stdout)

    exported = run_cli("digit_experiments.export", [f"model_uri={CHAMPION}", f"output={tmp_path / 'export'}"], cwd=workdir)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "export" / "model.keras").is_file()

    with served_model(CHAMPION, registered.store, workdir) as url:
        rows = [{"image": base64.b64encode(path.read_bytes()).decode()} for path in files]
        status, body = post(f"{url}/invocations", json.dumps({"dataframe_records": rows}).encode())
    assert status == 200, body
    assert [answer["digit"] for answer in json.loads(body)["predictions"]] == [row["digit"] for row in by_predict]


@pytest.mark.parametrize(("arguments", "message"), [
    (["run=0123456789abcdef", f"name={NAME}"], "No run '0123456789abcdef'"),
    (["run=RUN", f"name={NAME}", "alias=v2"], "Invalid alias 'v2'"),
    (["run=RUN", "name=has space"], "Invalid registered model name 'has space'"),
])
def test_promote_mistakes_are_one_paragraph(registered: SmokeRun, arguments: list[str], message: str) -> None:
    arguments = [argument.replace("RUN", registered.run_id) for argument in arguments]
    result = run_cli("digit_experiments.promote", arguments, cwd=registered.workdir)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_promoting_a_sweep_parent_run_names_the_sweep_form(registered: SmokeRun) -> None:
    """It said the run "may have failed", although the run is a sweep's parent, tagged as such."""
    experiment_id = registered.client.get_experiment_by_name("digit_experiments").experiment_id
    parent = registered.client.create_run(experiment_id, tags={SWEEP_ROLE_TAG: "parent"}, run_name="sweep x").info.run_id
    registered.client.set_terminated(parent)
    with pytest.raises(UserError, match=f"is a sweep's parent run.*`run=sweep:{parent}`"):
        promote(registered.client, NAME, parent, "champion")


def test_register_as_without_a_logged_model_is_refused_before_training(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["debug=smoke", "tracking.register_as=digits", "tracking.log_model=false"], cwd=tmp_path)
    assert result.returncode == 2
    assert "`tracking.register_as` registers the logged model" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("alias", ["v2", "V10", "latest", "Latest", "LATEST", "has space", ""])
def test_aliases_mlflow_refuses_are_refused_before_anything_is_registered(alias: str) -> None:
    """MLflow refused `latest` only after promote had registered a new version, with a traceback."""
    with pytest.raises(ConfigError, match="Invalid alias"):
        check_alias(alias)
    assert check_alias("latest_good") == "latest_good" and check_alias("champion") == "champion"
