"""Training never waits for tracking: a real `mlflow server` killed mid-run, restarted or never back."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import keras
import mlflow
import pytest

from digit_experiments.training import experiment
from helpers import MlflowServer, command_environment, run_cli, run_config

pytestmark = pytest.mark.e2e

EPOCHS = 6
SMALL = [
    "experiment=smoke", "model=tiny", "augment=none", f"epochs={EPOCHS}", "dataset.max_train_images=300",
    "dataset.max_test_images_per_source=100", "trainer.verbose=0",
]
#: MLflow's client retries an unreachable server for minutes by default; the tests keep each attempt short.
SHORT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}


class StoreOutage(keras.callbacks.Callback):
    """Kill the server at the end of epoch ``down_after``, start it again at the end of ``up_after``; time each epoch."""

    def __init__(self, server: MlflowServer, down_after: int, up_after: int) -> None:
        super().__init__()
        self.server, self.down_after, self.up_after = server, down_after, up_after
        self.epoch_seconds: dict[int, float] = {}

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epoch_seconds[epoch] = time.monotonic() - self.started
        if epoch == self.down_after:
            self.server.stop()
        elif epoch == self.up_after:
            self.server.start()


def assert_complete(client: mlflow.MlflowClient, run_id: str) -> None:
    """The run ended FINISHED with every epoch step once, its test metrics and its model."""
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in ("loss", "val_loss", "learning_rate"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == list(range(EPOCHS)), key
    assert "test_accuracy" in run.data.metrics and run.data.params["epochs"] == str(EPOCHS)
    assert "model/MLmodel" in [a.path for a in client.list_artifacts(run_id, "model")]


def test_a_store_killed_mid_run_and_restarted_gets_every_record_in_order(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = MlflowServer(tmp_path).start()
    for name, value in {"MLFLOW_TRACKING_URI": server.url, **SHORT_RETRIES}.items():
        monkeypatch.setenv(name, value)
    outage = StoreOutage(server, down_after=1, up_after=4)
    try:
        with caplog.at_level(logging.WARNING, logger="digit_experiments"):
            experiment.run(run_config(tmp_path, SMALL), extra_callbacks=[outage])
    finally:
        server.stop()

    assert max(outage.epoch_seconds[epoch] for epoch in (2, 3)) < 30, f"training waited for the store: {outage.epoch_seconds}"
    assert "is not answering" in caplog.text and "is back" in caplog.text
    server.start()
    try:
        client = mlflow.MlflowClient(server.url)
        (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
        assert_complete(client, run.info.run_id)
    finally:
        server.stop()


def _wait_for_run_start(workdir: Path, process: subprocess.Popen, deadline_s: float = 240) -> Path:
    """The output folder of the training in ``workdir``, once its MLflow run exists."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        started = list(workdir.glob("outputs/*/*/tracking/run.json"))
        if started:
            return started[0].parents[1]
        assert process.poll() is None, process.communicate()[0][-3000:]
        time.sleep(0.05)
    process.kill()
    pytest.fail("the training run did not start in time")


def test_a_store_that_never_comes_back_leaves_everything_for_sync(data_dir: Path, tmp_path: Path) -> None:
    server = MlflowServer(tmp_path).start()
    try:
        workdir = tmp_path / "work"
        workdir.mkdir()
        env = command_environment(MLFLOW_TRACKING_URI=server.url, **SHORT_RETRIES)
        process = subprocess.Popen(
            [sys.executable, "-m", "digit_experiments.train", *SMALL, "tracking.flush_timeout=5"],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        output_dir = _wait_for_run_start(workdir, process)
        server.stop()
        output = process.communicate(timeout=600)[0]

        assert process.returncode == 3, output[-3000:]
        assert f"python -m digit_experiments.sync {output_dir}" in output and "Traceback" not in output
        assert "Saved the model for runs:/" in output and "Logged model" not in output
        assert (output_dir / "mlflow_model" / "MLmodel").is_file() and (output_dir / "checkpoints" / "best.keras").is_file()

        server.start()
        synced = run_cli("digit_experiments.sync", [str(output_dir)], cwd=workdir)
        assert synced.returncode == 0 and "nothing is pending now" in synced.stdout, synced.stderr[-2000:]
        client = mlflow.MlflowClient(server.url)
        (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
        assert_complete(client, run.info.run_id)
        again = run_cli("digit_experiments.sync", [str(output_dir)], cwd=workdir)
        assert again.returncode == 0 and again.stdout.startswith("Sent 0 pending records")
    finally:
        server.stop()  # also when the test fails half way: a server left running outlives the session
