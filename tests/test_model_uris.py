"""A model URI that is nearly right says what is wrong with it and the URI to pass (a real SQLite store, real runs).

Before, each of these quoted MLflow ("Not a proper runs:/ URI", "Logged model with ID 'digits' not found",
"Failed to download artifacts from path 'model'") and told the user to check the run id.
"""

from __future__ import annotations

import mlflow
import pytest

from digit_experiments import tracking
from digit_experiments.core.errors import UserError
from digit_experiments.inference.loading import load_member
from digit_experiments.tracking.registry import promote

from helpers import run_cli
from helpers.runs import SmokeRun

NAME = "uri-tests"


@pytest.fixture(scope="module")
def store(smoke_run: SmokeRun) -> dict[str, str]:
    """The smoke run's store, with the smoke model registered as version 1 of ``uri-tests`` (alias ``champion``)
    and a run that stopped before training: it holds ``plots/`` but no ``model``."""
    promote(smoke_run.client, NAME, smoke_run.run_id, "champion")
    experiment_id = smoke_run.run.info.experiment_id
    stopped = smoke_run.client.create_run(experiment_id, run_name="stopped early").info.run_id
    smoke_run.client.log_text(stopped, "no curves", "plots/curves.txt")
    smoke_run.client.set_terminated(stopped, "FAILED")
    return {"uri": smoke_run.store, "trained": smoke_run.run_id, "stopped": stopped}


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
