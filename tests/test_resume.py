"""Resuming a training run after its process was killed with SIGKILL mid-epoch, through the real CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from helpers import run_cli

pytestmark = pytest.mark.e2e

EPOCHS = 6
ARGS = [
    "experiment=smoke", "model=tiny", "augment=none", f"epochs={EPOCHS}", "batch_size=32",
    "dataset.max_train_images=4000", "dataset.max_test_images_per_source=200", "trainer.verbose=2",
    "callbacks.reduce_lr_on_plateau.patience=1", "optimized_metric=val_accuracy",
]
#: Accuracy difference between two runs of ARGS that differ only in shuffle order (seen: 0.01).
RUN_TO_RUN_NOISE = 0.05


def _start_training(workdir: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(workdir / "killed.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "digit_experiments.train", *args], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )


#: The line Keras prints (``trainer.verbose=2``) when an epoch ends, after the callbacks saved its backup.
EPOCH_END = re.compile(r"^\d+/\d+ - .* - loss: ", re.MULTILINE)


def _epochs_ended(log: Path) -> int:
    return len(EPOCH_END.findall(log.read_text(errors="replace")))


def _kill_mid_epoch(process: subprocess.Popen, log: Path, done_epochs: int = 2, deadline_s: float = 240,
                    signum: int = signal.SIGKILL) -> int:
    """Wait until the training's own output shows epoch ``done_epochs + 1`` begun, then send ``signum``
    a moment into it; return the number of epochs that had ended.

    The output is watched rather than the tracking store, because the store hears of an
    epoch from a background delivery thread, which lags behind training when the cores are
    shared (the suite runs two test workers). The signal goes a fixed 0.2 s into the epoch,
    which lasts 0.5 s or more: waiting a measured fraction of an epoch once let the run finish
    first, when the epoch that was measured had included a slow one-time step.
    """
    deadline = time.monotonic() + deadline_s
    begun = f"Epoch {done_epochs + 1}/{EPOCHS}"
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        if begun in log.read_text(errors="replace"):
            time.sleep(0.2)
            os.kill(process.pid, signum)
            process.wait(30)
            return _epochs_ended(log)
        time.sleep(0.05)
    process.kill()
    pytest.fail("training did not log its epochs in time")


def _uninterrupted_run(workdir: Path) -> mlflow.entities.Run:
    """The same training on one device, never killed: what a resumed run must match within run-to-run noise."""
    workdir.mkdir()
    result = run_cli("digit_experiments.train", ARGS, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    return run


#: One device, and MirroredStrategy over two logical CPU devices (the stand-in for two GPUs).
DEVICES = {"one_device": [], "mirrored": ["trainer.strategy=mirrored", "trainer.cpu_devices=2"]}
#: How each is stopped: a hard kill, and a SIGTERM (a scheduler's, or `kill`), which the run handles.
STOP_SIGNAL = {"one_device": signal.SIGKILL, "mirrored": signal.SIGTERM}


@pytest.mark.parametrize("devices", sorted(DEVICES))
def test_training_killed_mid_epoch_resumes_in_the_same_run(data_dir: Path, tmp_path: Path, devices: str) -> None:
    args = [*ARGS, *DEVICES[devices]]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    process = _start_training(tmp_path, args)
    done = _kill_mid_epoch(process, tmp_path / "killed.log", signum=STOP_SIGNAL[devices])
    assert 2 <= done < EPOCHS
    (killed,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    run_id = killed.info.run_id
    if STOP_SIGNAL[devices] == signal.SIGKILL:
        assert killed.info.status == "RUNNING", "SIGKILL leaves no chance to end the run"
    else:
        log = (tmp_path / "killed.log").read_text()
        assert killed.info.status == "KILLED" and process.returncode == 128 + signal.SIGTERM
        assert f"Interrupted (signal {int(signal.SIGTERM)}). Its MLflow run is KILLED." in log and "resume=" in log
        assert "Traceback" not in log
    output_dir = Path(killed.data.tags["output_dir"])
    assert (output_dir / "backup").is_dir()

    result = run_cli("digit_experiments.train", [*args, f"resume={run_id}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Epoch {EPOCHS}/{EPOCHS}" in result.stdout and "Epoch 1/" not in result.stdout, "the epoch counter continues"
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    replicas = 2 if devices == "mirrored" else 1
    assert run.data.tags["trainer.strategy_used"].startswith("mirrored over 2" if replicas == 2 else "one device")
    for key in ("loss", "val_loss", "val_accuracy", "learning_rate"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == list(range(EPOCHS)), key
    assert run.data.metrics["epochs_trained"] == EPOCHS
    assert run.data.metrics["best_val_accuracy"] > 0.5 and run.data.metrics["test_accuracy"] > 0.5
    uninterrupted = _uninterrupted_run(tmp_path / "uninterrupted")
    for key in ("best_val_accuracy", "test_accuracy"):  # resumed epochs see another shuffle order; mirrored, another device split
        assert run.data.metrics[key] == pytest.approx(uninterrupted.data.metrics[key], abs=RUN_TO_RUN_NOISE), key
    assert not (output_dir / "backup").exists(), "the backup is deleted once training completes"
    assert {f.path for f in client.list_artifacts(run_id)} >= {"model", "plots", "config"}


def test_resuming_a_finished_or_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.train", ["model=tiny", "resume=0123456789abcdef"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "Cannot resume '0123456789abcdef'" in result.stderr and "Traceback" not in result.stderr
    assert "The store holds no runs that can be resumed." in result.stderr


def test_a_sweep_job_that_stopped_before_training_is_neither_offered_nor_resumed(tmp_path: Path) -> None:
    """Such a job's run (a grid's ``model.dense_dropout=1.5``) was listed as resumable, and resuming it could only be refused."""
    from digit_experiments import tracking
    from digit_experiments.core.errors import UserError

    settings = {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment_name": "digit_experiments"}
    client = mlflow.MlflowClient(settings["uri"])
    experiment_id = tracking.use_experiment(settings)

    def ended_run(name: str, tags: dict[str, str]) -> str:
        run_id = client.create_run(experiment_id, run_name=name, tags={tracking.OUTPUT_DIR_TAG: str(tmp_path / name), **tags}).info.run_id
        client.set_terminated(run_id, "FAILED")
        return run_id

    interrupted = ended_run("interrupted", {})
    stopped = ended_run("stopped before training", {
        "sweep.stopped_before_training": "true", tracking.FAILURE_REASON_TAG: "ConfigError: Invalid value for `model.dense_dropout`",
    })
    with pytest.raises(UserError) as unknown:
        tracking.find_resumable_run(settings, "0123456789abcdef")
    assert interrupted in str(unknown.value) and stopped not in str(unknown.value)
    with pytest.raises(UserError, match="is a sweep job that stopped before training \\(ConfigError: Invalid value") as refused:
        tracking.find_resumable_run(settings, stopped)
    assert "Run the job again as a new run, with its config corrected." in str(refused.value)
    assert tracking.find_resumable_run(settings, interrupted).info.run_id == interrupted
