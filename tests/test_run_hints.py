"""An unknown run id names the recent runs the command would have accepted (a real SQLite MLflow store)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from digit_experiments import tracking
from digit_experiments.core.errors import UserError
from digit_experiments.hpo.report import best_job_ids
from digit_experiments.tracking import registry

EXPERIMENT = "digit_experiments"


@pytest.fixture()
def store(tmp_path: Path) -> dict[str, object]:
    """A store with one run of each kind: finished trainings with and without a model, a failed one, a sweep parent, an evaluation."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    tracking_config = {"uri": uri, "experiment_name": EXPERIMENT}
    experiment_id = tracking.use_experiment(tracking_config)
    client = mlflow.MlflowClient(uri)

    def run(name: str, status: str, tags: dict[str, str], params: dict[str, str] | None = None) -> str:
        run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        for key, value in (params or {}).items():
            client.log_param(run_id, key, value)
        client.set_terminated(run_id, status)
        return run_id

    ids = {
        "finished": run("trained", "FINISHED", {tracking.OUTPUT_DIR_TAG: str(tmp_path / "a")}, {"tracking.log_model": "True"}),
        # finished, but trained with tracking.log_model=false: no model to name where one is asked for
        "without model": run("no model", "FINISHED", {tracking.OUTPUT_DIR_TAG: str(tmp_path / "c")}, {"tracking.log_model": "False"}),
        "failed": run("interrupted", "FAILED", {tracking.OUTPUT_DIR_TAG: str(tmp_path / "b")}),
        "parent": run("sweep x", "FINISHED", {tracking.SWEEP_ROLE_TAG: "parent"}),
        "evaluation": run("evaluate", "FINISHED", {}),
    }
    return {"client": client, "tracking": tracking_config, "ids": ids, "experiment_id": experiment_id}


def _named(message: str, ids: dict[str, str]) -> set[str]:
    """Which of the store's runs the message names."""
    return {kind for kind, run_id in ids.items() if run_id in message}


def test_resume_of_an_unknown_or_finished_run_names_the_runs_that_can_be_resumed(store: dict) -> None:
    ids = store["ids"]
    with pytest.raises(UserError) as unknown:
        tracking.find_resumable_run(store["tracking"], "0123456789abcdef")
    assert _named(str(unknown.value), ids) == {"failed"}
    assert "interrupted, FAILED, started" in str(unknown.value)
    listing = f"MLFLOW_TRACKING_URI={store['tracking']['uri']} mlflow runs list --experiment-id {store['experiment_id']}"
    assert listing in str(unknown.value)
    with pytest.raises(UserError) as finished:
        tracking.find_resumable_run(store["tracking"], ids["finished"])
    assert "already finished" in str(finished.value) and ids["failed"] in str(finished.value)


def test_an_unknown_sweep_names_the_sweep_parents(store: dict) -> None:
    with pytest.raises(UserError) as error:
        best_job_ids(store["client"], "0123456789abcdef", 1)
    assert _named(str(error.value), store["ids"]) == {"parent"} and "Recent sweep parent runs" in str(error.value)


def test_promoting_an_unknown_run_names_the_finished_trainings(store: dict) -> None:
    with pytest.raises(UserError) as error:
        registry.promote(store["client"], "digits", "0123456789abcdef", "champion")
    assert _named(str(error.value), store["ids"]) == {"finished"} and "Recent finished training runs" in str(error.value)



def test_an_unknown_runs_uri_names_the_finished_trainings(store: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_experiments.inference.loading import load_member

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["tracking"]["uri"])
    tracking.connect(store["tracking"], used=False)
    with pytest.raises(UserError) as error:
        load_member("runs:/0123456789abcdef/model")
    assert "Cannot load model 'runs:/0123456789abcdef/model'" in str(error.value)
    assert _named(str(error.value), store["ids"]) == {"finished"}
