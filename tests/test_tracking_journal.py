"""A run's tracking journal against a real SQLite store: order, status, resending without duplicates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.tracking import RunJournal, deliver_pending, recorded_run, use_experiment


def tracking_config(tmp_path: Path) -> dict[str, object]:
    return {
        "uri": f"sqlite:///{tmp_path}/mlflow.db", "artifact_location": str(tmp_path / "artifacts"),
        "experiment_name": "journal-test", "run_name": "journaled", "flush_timeout": 30,
    }


def new_run(tmp_path: Path) -> tuple[mlflow.MlflowClient, str]:
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    return client, client.create_run(use_experiment(tracking_config(tmp_path))).info.run_id


def record_epochs(journal: RunJournal, epochs: int) -> None:
    journal.log_params({"lr": 0.001})
    for epoch in range(epochs):
        journal.log_metrics({"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1)}, step=epoch)
    journal.log_text("hello", "notes/hello.txt")
    journal.end("FINISHED")


def test_recorded_run_delivers_everything_in_order_and_ends_finished(tmp_path: Path) -> None:
    with recorded_run(tracking_config(tmp_path), tmp_path / "output", tags={"kind": "test"}) as journal:
        for epoch in range(3):
            journal.log_metrics({"loss": 1.0 / (epoch + 1)}, step=epoch)
        journal.log_text("hello", "notes/hello.txt")
    assert journal.pending == 0
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(journal.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "journaled" and run.data.tags["kind"] == "test"
    assert [m.step for m in client.get_metric_history(journal.run_id, "loss")] == [0, 1, 2]
    assert Path(client.download_artifacts(journal.run_id, "notes/hello.txt", str(tmp_path))).read_text() == "hello"


def test_recorded_run_that_raises_is_failed_with_the_reason_delivered(tmp_path: Path) -> None:
    with pytest.raises(ValueError), recorded_run(tracking_config(tmp_path), tmp_path / "output", failure_tags={"trial.state": "FAIL"}) as journal:
        raise ValueError("boom")
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(journal.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == "ValueError: boom" and run.data.tags["trial.state"] == "FAIL"


def test_sync_sends_what_was_never_delivered_and_nothing_twice(tmp_path: Path) -> None:
    client, run_id = new_run(tmp_path)
    output = tmp_path / "output"
    record_epochs(RunJournal(output, run_id, client.tracking_uri, deliver=False), epochs=4)

    assert deliver_pending(output) == (7, 0)
    assert deliver_pending(output) == (0, 0), "a second sync has nothing left to send"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.001"}
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [0, 1, 2, 3]


def test_a_record_sent_before_a_crash_but_not_counted_is_not_sent_again(tmp_path: Path) -> None:
    client, run_id = new_run(tmp_path)
    output = tmp_path / "output"
    record_epochs(RunJournal(output, run_id, client.tracking_uri, deliver=False), epochs=3)
    deliver_pending(output)
    (output / "tracking" / "delivered").write_text("1")  # the process died after sending, before counting

    deliver_pending(output)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1, 2]


def test_a_journal_line_cut_short_by_a_kill_is_dropped_and_recording_goes_on(tmp_path: Path) -> None:
    client, run_id = new_run(tmp_path)
    output = tmp_path / "output"
    journal = RunJournal(output, run_id, client.tracking_uri, deliver=False)
    journal.log_metrics({"loss": 0.5}, step=0)
    with open(output / "tracking" / "journal.jsonl", "a") as file:
        file.write('{"op": "metrics", "metr')
    reopened = RunJournal(output, run_id, client.tracking_uri, deliver=False)
    reopened.log_metrics({"loss": 0.25}, step=1)
    assert reopened.metric_history("loss") == [(0, 0.5), (1, 0.25)]
    deliver_pending(output)
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.5, 0.25]


def test_sync_of_a_folder_without_a_journal_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no tracking journal"):
        deliver_pending(tmp_path)
    with pytest.raises(UserError, match="nothere is not a folder \\(it does not exist\\)"):
        deliver_pending(tmp_path / "nothere")


def test_sync_help_is_plain_text() -> None:
    """``digits-sync --help`` printed the module docstring's Sphinx role, ":func:`...`"."""
    result = subprocess.run([sys.executable, "-m", "digit_experiments.sync", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "records of each of its jobs." in result.stdout
    assert ":func:" not in result.stdout and "``" not in result.stdout


@pytest.mark.parametrize("header", [b"{not json", b'{"run_id": "abc"}', b"\xff\xfe\x00 not text"])
def test_sync_of_a_damaged_run_header_names_the_file(header: bytes, tmp_path: Path) -> None:
    (tmp_path / "tracking").mkdir()
    (tmp_path / "tracking" / "run.json").write_bytes(header)
    with pytest.raises(UserError, match="run.json is damaged .*journal.jsonl"):
        deliver_pending(tmp_path)


def test_sync_to_a_dead_server_or_a_missing_sqlite_file_fails_in_seconds_and_creates_nothing(tmp_path: Path) -> None:
    """MLflow's client retried a dead server for about four minutes; a missing SQLite file was created empty."""
    import time

    from helpers import closed_port

    client, run_id = new_run(tmp_path)
    output = tmp_path / "output"
    record_epochs(RunJournal(output, run_id, client.tracking_uri, deliver=False), epochs=2)
    started = time.monotonic()
    with pytest.raises(UserError, match="refused the connection.*--tracking-uri must be the address of the store"):
        deliver_pending(output, f"http://127.0.0.1:{closed_port()}")
    assert time.monotonic() - started < 10
    elsewhere = tmp_path / "elsewhere.db"
    with pytest.raises(UserError, match="is a SQLite file that does not exist"):
        deliver_pending(output, f"sqlite:///{elsewhere}")
    assert not elsewhere.exists()
    assert deliver_pending(output) == (5, 0), "the records are all still there for the right store"


def test_a_resumed_run_that_finishes_loses_the_reason_it_stopped_before(tmp_path: Path) -> None:
    """A resumed run ended FINISHED but kept `failure_reason=interrupted ...`, so filters on it listed it as failed."""
    with pytest.raises(KeyboardInterrupt), recorded_run(tracking_config(tmp_path), tmp_path / "output") as journal:
        raise KeyboardInterrupt
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert client.get_run(journal.run_id).data.tags["failure_reason"].startswith("interrupted")
    with recorded_run(tracking_config(tmp_path), tmp_path / "output", run_id=journal.run_id):
        pass
    run = client.get_run(journal.run_id)
    assert run.info.status == "FINISHED" and "failure_reason" not in run.data.tags


def test_a_model_folder_left_by_an_interrupted_save_is_replaced(tmp_path: Path) -> None:
    """An interrupt during the final save left `mlflow_model/`, and every resume then failed with FileExistsError."""
    import keras
    import numpy as np

    from digit_experiments.tracking import log_keras_model

    client, run_id = new_run(tmp_path)
    journal = RunJournal(tmp_path / "output", run_id, client.tracking_uri, deliver=False)
    local_dir = tmp_path / "output" / "mlflow_model"
    local_dir.mkdir(parents=True)
    (local_dir / "MLmodel").write_text("cut short")
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    log_keras_model(model, np.zeros((2, 28, 28, 1), np.float32), local_dir, journal)
    assert "cut short" not in (local_dir / "MLmodel").read_text()
    assert "keras" in (local_dir / "MLmodel").read_text()


def test_sync_of_a_sweep_folder_sends_each_jobs_records(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A sweep's folder holds no journal of its own; sync used to refuse it instead of sending its jobs'."""
    from digit_experiments.sync import main as sync

    client, _ = new_run(tmp_path)
    sweep = tmp_path / "multirun"
    run_ids = []
    for job in ("0", "1", "10"):
        run_id = client.create_run(use_experiment(tracking_config(tmp_path))).info.run_id
        record_epochs(RunJournal(sweep / job, run_id, client.tracking_uri, deliver=False), epochs=2)
        run_ids.append(run_id)
    sync([str(sweep)])
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" of ")[1].split(" to ")[0] for line in printed] == [str(sweep / job) for job in ("0", "1", "10")]
    assert all(client.get_run(run_id).info.status == "FINISHED" for run_id in run_ids)


def test_a_resumed_sweep_job_that_fails_gets_no_second_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resumed job's run carries its first folder's tag, so the job that failed in a new folder looked unstarted."""
    from digit_experiments.tracking.runs import PARENT_RUN_ENV, record_job_that_never_started

    client, parent_id = new_run(tmp_path)
    monkeypatch.setenv(PARENT_RUN_ENV, parent_id)
    config = {"optimized_metric": "val_loss", "tracking": tracking_config(tmp_path)}
    with pytest.raises(UserError) as failed, recorded_run(config["tracking"], tmp_path / "first_folder") as journal:
        raise UserError("The data changed under the resumed job.")
    record_job_that_never_started(config, tmp_path / "second_folder", ["seed=1"], failed.value)
    never_started = UserError("model.dense_dropout=1.5 is not a probability.")
    record_job_that_never_started(config, tmp_path / "third_folder", ["seed=2"], never_started)

    jobs = client.search_runs([use_experiment(config["tracking"])], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    assert sorted((run.info.run_name, run.info.status) for run in jobs) == [
        ("journaled", "FAILED"), ("stopped before training", "FAILED")], "one row per job"
    assert journal.run_id in {run.info.run_id for run in jobs}
