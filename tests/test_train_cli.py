"""The real training entry point, end to end, against temporary MLflow stores."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest


from helpers import closed_port, command_environment, run_cli

pytestmark = pytest.mark.e2e

PLOTS = {
    "plots/training_curves.png",
    "plots/confusion_matrix_mnist.png",
    "plots/misclassified_mnist.png",
    "plots/augmented_samples.png",
    "plots/samples_per_source.png",
}


def test_smoke_run_is_finished_with_config_tags_and_metrics(smoke_run) -> None:
    client, run = smoke_run.client, smoke_run.run
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "cnn_bn"
    assert run.data.params["batch_size"] == "64" and run.data.params["epochs"] == "5"
    assert run.data.tags["data.sha256.mnist/train-images-idx3-ubyte.gz"].startswith("440fcabf")
    assert len(run.data.tags["git.commit"]) in (40, len("unknown"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(5)), key
    assert run.data.metrics["test_accuracy"] >= 0.80, "a smoke run is a real, if small, model"
    assert run.data.metrics["test_mnist_accuracy"] == run.data.metrics["test_accuracy"]
    assert run.data.metrics["test_loss"] > 0


def test_training_output_that_is_not_a_terminal_gets_one_line_per_epoch(smoke_run) -> None:
    """Keras's own `auto` would write every step's redraw of its progress bar into a log file."""
    epoch_lines = [line for line in smoke_run.stdout.splitlines() if " - val_loss: " in line]
    assert len(epoch_lines) == 5, smoke_run.stdout[-2000:]
    assert "━" not in smoke_run.stdout and "\r" not in smoke_run.stdout


def test_the_runs_train_log_has_one_line_per_epoch_and_the_console_no_second_one(smoke_run) -> None:
    """Keras prints its epoch lines to stdout only: a run's progress could not be read from its folder afterwards."""
    output_dir = Path(smoke_run.run.data.tags["output_dir"])
    logged = [line for line in (output_dir / "train.log").read_text().splitlines() if "] - Epoch " in line]
    assert [line.split("] - ")[1].split(":")[0] for line in logged] == [f"Epoch {n}/5" for n in range(1, 6)], logged
    assert all("val_loss" in line and "learning_rate" in line for line in logged)
    assert "] - Epoch " not in smoke_run.stdout, "Keras's own line is the console's"


def test_smoke_run_logs_config_plots_and_checkpoint(smoke_run) -> None:
    workdir, client, run = smoke_run.workdir, smoke_run.client, smoke_run.run
    artifacts = {f.path for folder in ("config", "plots") for f in client.list_artifacts(run.info.run_id, folder)}
    assert {"config/resolved.yaml", "config/overrides.txt"} <= artifacts
    assert PLOTS <= artifacts
    overrides = Path(client.download_artifacts(run.info.run_id, "config/overrides.txt")).read_text()
    assert "debug=smoke" in overrides
    assert list((workdir / "outputs").glob("*/*/checkpoints/best.keras")), "ModelCheckpoint keeps the best model"
    assert (workdir / "mlruns" / "artifacts").is_dir(), "artifacts live under ./mlruns"


def test_logged_model_loads_with_pyfunc_and_keras(smoke_run, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir, client, run = smoke_run.workdir, smoke_run.client, smoke_run.run
    uri = f"runs:/{run.info.run_id}/model"
    store = f"sqlite:///{workdir}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # undone after the test; set_tracking_uri exports it
    mlflow.set_tracking_uri(store)
    images = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    predictions = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"pixels": [image.tolist() for image in images]}))
    assert list(predictions.columns) == ["digit", "probability", "probabilities"] and len(predictions) == 5
    model = mlflow.keras.load_model(uri)
    assert isinstance(model, keras.Model) and model.name == "cnn_bn"
    local = Path(client.download_artifacts(run.info.run_id, "model"))
    assert (local / "input_example.json").exists(), "the input example is kept"
    assert "keras==" in (local / "requirements.txt").read_text()


def test_bad_value_on_the_command_line_is_one_clear_paragraph(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["model.conv_dropout=1.5"], cwd=tmp_path, timeout=120)
    message = "Invalid value for `model.conv_dropout`: 1.5"
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert (result.stdout + result.stderr).count(message) == 1, "the paragraph alone, not a log line too"
    (log_file,) = (tmp_path / "outputs").rglob("train.log")
    assert message in log_file.read_text(), "the run's log keeps the error"
    assert not (tmp_path / "mlruns").exists(), "nothing is tracked for a rejected config"


def test_unknown_group_option_lists_the_valid_choices(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["model=resnet"], cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "Available options in 'model'" in result.stderr and "cnn_bn" in result.stderr and "tiny" in result.stderr


def test_missing_data_is_reported_with_where_to_put_it(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["dataset=mnist", f"paths.data_dir={tmp_path}/nowhere"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "MNIST files missing" in result.stderr and "DIGITS_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_finite_loss_stops_training_and_fails_the_run_in_one_paragraph(data_dir: Path, tmp_path: Path) -> None:
    overrides = ["experiment=smoke", "model=tiny", "augment=none", "optimizer.learning_rate=1e30", "optimizer.clipnorm=null",
                 "model.l2=0", "trainer.verbose=0"]
    result = run_cli("digit_experiments.train", overrides, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Error: Training diverged: the loss became" in result.stderr and "Traceback" not in result.stderr
    assert "Lower optimizer.learning_rate" in result.stderr and "marked FAILED" in result.stderr
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert run.info.status == "FAILED"
    assert "TrainingDiverged" in run.data.tags["failure_reason"]


def test_an_unreachable_tracking_server_stops_the_run_fast_before_the_data(tmp_path: Path) -> None:
    env = command_environment(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "digit_experiments.train", "debug=smoke", "model=tiny", "tracking.connect_timeout=5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert "refused the connection" in result.stderr and "MLFLOW_TRACKING_URI" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Data:" not in result.stdout + result.stderr, "stopped before loading any data"


@pytest.mark.parametrize("command", [
    ["digit_experiments.predict", "model_uri=runs:/0123/model", "inputs=a.png"],
    ["digit_experiments.evaluate", "model_uri=sweep:0123"],
    ["digit_experiments.promote", "run=0123", "name=digits"],
])
def test_other_commands_that_need_the_server_stop_fast_too(command: list[str], tmp_path: Path) -> None:
    """Without the probe, MLflow's client retried the dead server for minutes, then raised a traceback."""
    env = command_environment(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", *command, "tracking.connect_timeout=5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "refused the connection" in result.stderr, result.stderr[-2000:]
    assert time.monotonic() - started < 60 and "Traceback" not in result.stderr


def test_an_optuna_search_without_multirun_is_refused_before_training(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["hparams_search=dropout_l2", "debug=smoke"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "runs only as a multirun" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "mlruns").exists(), "nothing trained or logged"


def test_a_recipe_that_sweeps_without_multirun_is_refused_unless_its_swept_keys_are_set(tmp_path: Path) -> None:
    """``experiment=robust_ensemble`` without ``-m`` trained one model with seed 42, none of its five members."""
    result = run_cli("digit_experiments.train", ["experiment=robust_ensemble", "debug=smoke"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "This config sweeps `seed` (1,2,3,4,5) in hydra.sweeper.params, and this command has no `-m`" in result.stderr
    assert "set seed=<value> to train one of them alone" in result.stderr and not (tmp_path / "mlruns").exists()

    # One member is a single run: it passes the check and reaches the config's own validation (batch_size=0).
    member = run_cli("digit_experiments.train", ["experiment=robust_ensemble", "seed=3", "batch_size=0"], cwd=tmp_path, timeout=120)
    assert member.returncode == 2 and "batch_size" in member.stderr and "sweeps" not in member.stderr, member.stderr[-2000:]


def test_a_tracking_store_that_cannot_be_opened_is_one_paragraph(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    env = command_environment(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/a_file/mlflow.db")
    result = subprocess.run(
        [sys.executable, "-m", "digit_experiments.train", "debug=smoke", "model=tiny", "epochs=1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "could not be opened" in result.stderr and "a_file/mlflow.db" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tracking_uri_of_no_known_scheme_is_refused_before_the_data_loads(tmp_path: Path) -> None:
    """``tracking.uri=foo://x`` was refused only when the run first opened the store, after loading its data."""
    result = run_cli("digit_experiments.train", ["debug=smoke", "model=tiny", "tracking.uri=foo://x"], cwd=tmp_path, timeout=240)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "The MLflow tracking store foo://x (from tracking.uri) has a scheme no MLflow store can open" in result.stderr
    assert "sqlite" in result.stderr and "Traceback" not in result.stderr
    assert "Data: " not in result.stdout + result.stderr, "stopped before loading any data"


def test_two_runs_started_together_on_the_default_store_both_finish(data_dir: Path, tmp_path: Path) -> None:
    """A new ./mlruns/mlflow.db and two runs in the same second: both FINISHED, every epoch logged, own folders."""
    args = ["debug=smoke", "model=tiny", "augment=none", "epochs=3", "dataset.max_train_images=300", "trainer.verbose=0"]
    command = [sys.executable, "-m", "digit_experiments.train", *args]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=command_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0, 1, 2]
        assert "test_accuracy" in run.data.metrics
    assert len({run.data.tags["output_dir"] for run in runs}) == 2, "each run keeps its own checkpoint folder"


@pytest.mark.parametrize("command", [
    ["digit_experiments.train", "debug=smoke", "hydra.run.dir=a_file/run"],
    ["digit_experiments.train", "-m", "debug=smoke", "seed=1,2", "hydra.sweep.dir=a_file/sweep"],
    ["digit_experiments.evaluate", "model_uri=model.keras", "hydra.run.dir=a_file/evaluate"],
])
def test_an_output_folder_that_cannot_be_created_is_one_paragraph_before_any_work(command: list[str], tmp_path: Path) -> None:
    """Hydra creates the folder itself and used to fail with its own traceback."""
    (tmp_path / "a_file").write_text("not a folder")
    result = run_cli(command[0], command[1:], cwd=tmp_path, timeout=120)
    key = "hydra.sweep.dir" if "-m" in command else "hydra.run.dir"
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{tmp_path / 'a_file'} is a file, not a folder" in result.stderr and f"`{key}`" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists(), "no run or sweep parent was opened"
