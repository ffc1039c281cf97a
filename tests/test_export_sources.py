"""What ``export`` starts from: one Keras model. A SavedModel, a list or a ``sweep:`` reference is refused before
any model loads, naming what to export instead (a real SQLite store, real runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.export import export
from digit_experiments.inference.export import export_model
from digit_experiments.model import build_model
from digit_experiments.tracking.tags import SWEEP_ROLE_TAG
from helpers import run_cli
from helpers.runs import SmokeRun


def refusal(model_uri: str | list[str], store: str, output: Path) -> str:
    """The message of the UserError the export command raises for ``model_uri``, having written nothing to ``output``."""
    with pytest.raises(UserError) as error:
        export({"model_uri": model_uri, "output": str(output), "tracking": {"uri": store}})
    assert not output.exists()
    return str(error.value)


@pytest.mark.e2e
def test_exporting_a_saved_model_is_refused_naming_the_keras_file_beside_it(tmp_path: Path) -> None:
    """Before: exit status 0 and a model.keras wrapping the SavedModel by its relative path, which
    keras.models.load_model refused ("Requested the deserialization of a TFSMLayer")."""
    export_model(build_model({"name": "tiny"}), tmp_path / "export")
    result = run_cli("digit_experiments.export", ["model_uri=export/saved_model", "output=again"], cwd=tmp_path, timeout=180)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "`export/saved_model` is a TensorFlow SavedModel, which is already an export" in result.stderr
    assert f"`model_uri={tmp_path / 'export' / 'model.keras'}`, beside this SavedModel" in result.stderr
    assert not (tmp_path / "again").exists(), "refused before anything is written"


def test_a_list_of_models_is_refused_also_when_spelt_as_one_string(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    assert refusal(["a.keras", "b.keras"], store, tmp_path / "out").startswith("Export takes one model")
    spelt = refusal("[a.keras,b.keras]", store, tmp_path / "out")
    assert spelt.startswith("Export takes one model"), "before: 'Model ... not found'"


@pytest.fixture(scope="module")
def sweep(smoke_run: SmokeRun) -> dict[str, str]:
    """A sweep's parent run in the smoke run's store whose report ranked the smoke run best, and one job of it."""
    client, experiment_id = smoke_run.client, smoke_run.run.info.experiment_id
    parent = client.create_run(experiment_id, run_name="sweep", tags={SWEEP_ROLE_TAG: "parent", "best_run_id": smoke_run.run_id})
    job = client.create_run(experiment_id, run_name="job 1", tags={"mlflow.parentRunId": parent.info.run_id})
    for run in (job, parent):
        client.set_terminated(run.info.run_id)
    return {"store": smoke_run.store, "parent": parent.info.run_id, "job": job.info.run_id, "best": smoke_run.run_id}


def test_a_sweep_reference_is_refused_naming_its_best_job(sweep: dict[str, str], tmp_path: Path) -> None:
    """Before: "Model 'sweep:<id>' not found: it is neither an existing file or folder nor an MLflow URI"."""
    message = refusal(f"sweep:{sweep['parent']}", sweep["store"], tmp_path / "out")
    assert message.startswith(f"Export takes one model, and `sweep:{sweep['parent']}` stands for a sweep's best jobs.")
    assert f"`model_uri=runs:/{sweep['best']}/model`, its best job" in message
    assert f"`promote run=sweep:{sweep['parent']} name=<name>`" in message and "not found" not in message


def test_a_sweep_reference_to_one_of_its_jobs_names_that_jobs_model(sweep: dict[str, str], tmp_path: Path) -> None:
    message = refusal(f"sweep:{sweep['job']}", sweep["store"], tmp_path / "out")
    assert f"Run {sweep['job']} is not a sweep's parent run, though, but a job of sweep {sweep['parent']}" in message
    assert f"`model_uri=runs:/{sweep['job']}/model`" in message
