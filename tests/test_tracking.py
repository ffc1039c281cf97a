"""MLflow run status and store selection, against a real SQLite store."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pytest

from digit_experiments.core import startup
from digit_experiments.tracking import describe_run, tracked_run, tracking_uri, use_experiment


def tracking_config(tmp_path: Path) -> dict[str, object]:
    return {
        "uri": f"sqlite:///{tmp_path}/mlflow.db",
        "artifact_location": str(tmp_path / "artifacts"),
        "experiment_name": "status-test",
        "run_name": None,
    }


def last_run(tmp_path: Path):
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("status-test")
    return client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])[0]


def test_successful_run_is_finished_with_local_artifacts(tmp_path: Path) -> None:
    with tracked_run(tracking_config(tmp_path)):
        mlflow.log_text("hello", "note.txt")
    run = last_run(tmp_path)
    assert run.info.status == "FINISHED"
    assert (tmp_path / "artifacts" / run.info.run_id / "artifacts" / "note.txt").read_text() == "hello"


def test_exception_marks_the_run_failed_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError), tracked_run(tracking_config(tmp_path), failure_tags={"trial.state": "FAIL"}):
        raise ValueError("boom")
    run = last_run(tmp_path)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == "ValueError: boom"
    assert run.data.tags["trial.state"] == "FAIL"


def test_ctrl_c_marks_the_run_killed(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), tracked_run(tracking_config(tmp_path)):
        raise KeyboardInterrupt
    assert last_run(tmp_path).info.status == "KILLED"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_killed_job_or_a_closed_terminal_marks_the_run_killed(signum: int, tmp_path: Path, restored_signal_handlers: None) -> None:
    """SIGHUP (the terminal closed, the SSH session dropped) ended the process on the spot and left the run RUNNING."""
    startup.interrupt_on_termination_signals()
    with pytest.raises(KeyboardInterrupt), tracked_run(tracking_config(tmp_path)):
        os.kill(os.getpid(), signum)
        time.sleep(5)
    run = last_run(tmp_path)
    assert run.info.status == "KILLED" and run.data.tags["failure_reason"] == "interrupted (Ctrl-C, SIGTERM or SIGHUP)"


def test_an_error_that_follows_an_interrupting_signal_is_taken_for_the_interrupt(
    tmp_path: Path, restored_signal_handlers: None
) -> None:
    """A Ctrl-C landing in TensorFlow's graph building surfaced as a layer's TypeError and ended the run FAILED."""
    startup.interrupt_on_termination_signals()
    with pytest.raises(KeyboardInterrupt) as raised, tracked_run(tracking_config(tmp_path)):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:  # what TensorFlow's C++ did with it
            raise TypeError("Exception encountered when calling Flatten.call()") from None
    assert startup.interrupting_signal(raised.value) == signal.SIGTERM
    assert isinstance(raised.value.__cause__, TypeError), "the error it replaced stays attached"
    run = last_run(tmp_path)
    assert run.info.status == "KILLED" and run.data.tags["failure_reason"] == "interrupted (Ctrl-C, SIGTERM or SIGHUP)"


@pytest.mark.parametrize(("uri", "message"), [
    ("sqlite://", "is an in-memory SQLite database"),
    ("sqlite:///:memory:", "is an in-memory SQLite database"),
    ("sqlite:///a_file/mlflow.db", "a_file cannot be made (File exists)"),
    ("foo", "'foo' (from tracking.uri) is not a URI"),
    (" ", "is not a URI"),
])
def test_a_store_that_cannot_keep_runs_is_refused(uri: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`sqlite://` trained, then waited for a store that could never come back; a relative file under a file raised."""
    from digit_experiments.core.errors import UserError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(UserError, match=re.escape(message)):
        tracking_uri(uri)


def test_environment_tracking_uri_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri("sqlite:///mlruns/mlflow.db") == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert tracking_uri("sqlite:///mlruns/mlflow.db") == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert (tmp_path / "mlruns").is_dir()


def test_workers_creating_the_experiment_together_agree_on_it(tmp_path: Path) -> None:
    """Sweep workers started at once all find the experiment missing and create it; none may fail."""
    config = tracking_config(tmp_path)
    mlflow.MlflowClient(config["uri"]).search_experiments()  # the store exists; only the experiment is missing
    workers = 6
    start = threading.Barrier(workers)

    def create() -> str:
        start.wait()
        return use_experiment(config)

    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(lambda _: create(), range(workers)))
    assert len(set(ids)) == 1
    assert mlflow.MlflowClient(config["uri"]).get_experiment_by_name("status-test").experiment_id == ids[0]


def test_the_experiment_opens_in_the_ui_model_training_view(tmp_path: Path) -> None:
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    old = client.create_experiment("status-test")  # made before the tag existed
    assert use_experiment(tracking_config(tmp_path)) == old
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    settings = {**tracking_config(tmp_path), "experiment_name": "new"}
    assert client.get_experiment(use_experiment(settings)).tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_training_run_is_named_after_what_it_is() -> None:
    config = {"tracking": {"run_name": "fast"}, "model": {"name": "cnn_bn"}, "seed": 7,
              "dataset": {"sources": {"mnist": {}, "usps": {"weight": 2}, "not_mnist": {"test_only": True}}}}
    assert describe_run(config) == "fast cnn_bn mnist+usps seed7"
    assert describe_run({**config, "tracking": {"run_name": None}}).startswith("train cnn_bn")
    auto = {**config, "dataset": {"sources": {"auto": {}}}}
    assert describe_run(auto, trained_sources=["mnist"]) == "fast cnn_bn mnist seed7", "dataset=auto names what it loaded"
