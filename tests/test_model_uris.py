"""A model URI that is nearly right says what is wrong with it and the URI to pass (a real SQLite store, real runs).

Before, each of these quoted MLflow ("Not a proper runs:/ URI", "Logged model with ID 'digits' not found",
"Failed to download artifacts from path 'model'") and told the user to check the run id.
"""

from __future__ import annotations

import mlflow
import pytest

from digit_experiments import tracking
from digit_experiments.core.errors import UserError
from digit_experiments.inference.loading import load_ensemble, load_member
from digit_experiments.promote import promote as promote_command
from digit_experiments.tracking.registry import promote
from digit_experiments.tracking.tags import SWEEP_ROLE_TAG

from helpers import run_cli
from helpers.runs import SmokeRun

NAME = "uri-tests"


@pytest.fixture(scope="module")
def store(smoke_run: SmokeRun) -> dict[str, str]:
    """The smoke run's store, with the smoke model registered as version 1 of ``uri-tests`` (alias ``champion``),
    a run that stopped before training: it holds ``plots/`` but no ``model``, and a sweep's parent run with one job,
    tagged as a sweep tags them."""
    promote(smoke_run.client, NAME, smoke_run.run_id, "champion")
    experiment_id = smoke_run.run.info.experiment_id
    stopped = smoke_run.client.create_run(experiment_id, run_name="stopped early").info.run_id
    smoke_run.client.log_text(stopped, "no curves", "plots/curves.txt")
    smoke_run.client.set_terminated(stopped, "FAILED")
    parent = smoke_run.client.create_run(experiment_id, run_name="sweep", tags={SWEEP_ROLE_TAG: "parent"}).info.run_id
    job = smoke_run.client.create_run(experiment_id, run_name="job 0", tags={"mlflow.parentRunId": parent}).info.run_id
    for run_id in (job, parent):
        smoke_run.client.set_terminated(run_id)
    return {"uri": smoke_run.store, "trained": smoke_run.run_id, "stopped": stopped, "sweep": parent, "job": job}


@pytest.fixture()
def connected(store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process pointed at the store, as a command's ``tracking.connect`` points it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    tracking.connect({"uri": store["uri"]}, used=False)
    return store


def load_error(uri: str) -> str:
    """The message of the UserError loading ``uri`` raises."""
    with pytest.raises(UserError) as error:
        load_member(uri)
    return str(error.value)


def test_a_runs_uri_without_its_path_names_the_model_uri_of_that_run(connected: dict[str, str]) -> None:
    trained, stopped = connected["trained"], connected["stopped"]
    for uri in (f"runs:/{trained}", f"runs:/{trained}/"):
        message = load_error(uri)
        assert "lacks the artifact path" in message and f"`model_uri=runs:/{trained}/model`" in message
        assert "Not a proper" not in message and "MLmodel" not in message
    assert "has no logged model" in load_error(f"runs:/{stopped}")


def test_a_run_without_a_logged_model_says_so_and_lists_what_it_holds(connected: dict[str, str]) -> None:
    stopped = connected["stopped"]
    message = load_error(f"runs:/{stopped}/model")
    assert f"Run {stopped} (stopped early, FAILED) has no logged model" in message
    assert "its artifacts: plots/" in message and "tracking.log_model=false" in message
    assert "Failed to download" not in message


def test_a_mistyped_artifact_path_names_where_the_model_is(connected: dict[str, str]) -> None:
    trained = connected["trained"]
    message = load_error(f"runs:/{trained}/models")
    assert "has no `models` artifact" in message and f"`model_uri=runs:/{trained}/model`" in message


def test_a_models_uri_without_version_or_alias_lists_the_ones_there_are(connected: dict[str, str]) -> None:
    message = load_error(f"models:/{NAME}")
    assert f"`models:/{NAME}/<version>` or `models:/{NAME}@<alias>`" in message
    assert "versions: 1; aliases: champion (version 1)" in message and "Logged model with ID" not in message
    assert "has no version 9" in load_error(f"models:/{NAME}/9")
    assert "has no alias 'nosuch'" in load_error(f"models:/{NAME}@nosuch")
    unknown = load_error("models:/nosuch")
    assert "no registered model named 'nosuch' (its registered models: " in unknown and NAME in unknown


def test_a_misspelt_runs_scheme_names_the_uri_to_pass(connected: dict[str, str]) -> None:
    """Before: MLflow's list of every artifact scheme it knows, and "Check the run id"."""
    trained = connected["trained"]
    message = load_error(f"run:/{trained}/model")
    assert "`run:/` is not a scheme MLflow knows" in message and f"pass `runs:/{trained}/model`" in message
    assert "registered schemes" not in message and "Check the run id" not in message
    assert "pass `models:/uri-tests/1`" in load_error(f"model:/{NAME}/1")


def test_a_sweep_reference_to_one_of_its_jobs_names_the_parent_run(connected: dict[str, str]) -> None:
    """Before: "Sweep <job id> has no finished job ... (0 finished). Wait for a job to finish", as if the sweep were running."""
    job, parent = connected["job"], connected["sweep"]
    with pytest.raises(UserError) as error:
        load_ensemble(f"sweep:{job}")
    message = str(error.value)
    assert f"run {job} is a job of sweep {parent}, not the sweep's parent run" in message
    assert f"`model_uri=sweep:{parent}`" in message and f"`model_uri=runs:/{job}/model`" in message
    assert "Wait for a job to finish" not in message


def promote_error(store: dict[str, str], run: str) -> str:
    """The message of the UserError ``promote run=<run> name=uri-tests-refused`` raises, as the command runs it."""
    config = {"run": run, "name": "uri-tests-refused", "alias": "champion", "tracking": {"uri": store["uri"]}}
    with pytest.raises(UserError) as error:
        promote_command(config)
    return str(error.value)


def test_promote_refuses_a_mistyped_artifact_path_or_scheme_as_evaluate_does(connected: dict[str, str]) -> None:
    """Before: `run=runs:/<id>/modle` promoted the run, exit status 0, while evaluate and predict refused the typo;
    `run=run:/<id>/model` was looked up as a run id."""
    trained = connected["trained"]
    message = promote_error(connected, f"runs:/{trained}/modle")
    assert f"run {trained} has no `modle` artifact (its artifacts: config/, model/, plots/)" in message
    assert f"pass `run=runs:/{trained}/model`" in message
    assert f"pass `runs:/{trained}/model`" in promote_error(connected, f"run:/{trained}/model"), "before: \"No run 'run:/...'\""
    assert not mlflow.MlflowClient(connected["uri"]).search_registered_models("name = 'uri-tests-refused'"), "nothing registered"


def test_promote_of_a_sweep_reference_to_one_of_its_jobs_names_the_parent_run(connected: dict[str, str]) -> None:
    job, parent = connected["job"], connected["sweep"]
    message = promote_error(connected, f"sweep:{job}")
    assert f"run {job} is a job of sweep {parent}, not the sweep's parent run" in message
    assert f"`run=sweep:{parent}`" in message and f"`run={job}`" in message and "Wait for a job" not in message


@pytest.mark.e2e
def test_predict_with_a_runs_uri_without_its_path_is_one_paragraph(store: dict[str, str], smoke_run: SmokeRun) -> None:
    arguments = [f"model_uri=runs:/{store['trained']}", "inputs=seven.png"]
    result = run_cli("digit_experiments.predict", arguments, cwd=smoke_run.workdir)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"`model_uri=runs:/{store['trained']}/model`" in result.stderr


@pytest.mark.e2e
def test_promote_takes_the_run_id_of_a_runs_uri(store: dict[str, str], smoke_run: SmokeRun) -> None:
    """A URI's run is unambiguous; it was refused as "No run 'runs:/<id>/model'", with five unrelated runs listed."""
    name = "uri-tests-promoted"  # its own model, so that the tests above see `uri-tests` as the fixture left it
    result = run_cli("digit_experiments.promote", [f"run=runs:/{store['trained']}/model", f"name={name}"], cwd=smoke_run.workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"models:/{name}@champion"
    assert mlflow.MlflowClient(store["uri"]).get_model_version_by_alias(name, "champion").run_id == store["trained"]
