"""Every run learns: the default command offline, batch-norm statistics on little data, and one best epoch."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from digit_experiments.training import trainer
from digit_experiments.training.callbacks import CHECKPOINT_FILE, build_callbacks
from digit_experiments.model import build_model
from digit_experiments.training.selection import selected_epoch
from digit_experiments.core.validation import validate
from digit_experiments.tracking.journal import deliver_pending, journal_header

from helpers import closed_port, compose_config, run_cli


def _only_run(store: Path) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    return run


@pytest.mark.e2e
def test_default_command_learns_offline_on_the_embedded_set(tmp_path: Path) -> None:
    """README's first command on a machine with no data and no network: the embedded fallback must learn."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    mirrors = f"dataset.sources.auto.mirrors=[http://127.0.0.1:{closed_port()}/]"
    result = run_cli(
        "digit_experiments.train", [f"paths.data_dir={empty}", mirrors, "trainer.verbose=0"], cwd=tmp_path, timeout=480
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DATASET FALLBACK" in result.stdout + result.stderr
    run = _only_run(tmp_path / "mlruns" / "mlflow.db")
    assert run.info.status == "FINISHED" and run.data.tags["dataset.fallback"]
    assert run.data.metrics["test_accuracy"] >= 0.97
    train_images = int(run.data.params["data.embedded.train"])
    assert train_images < 384 * 20, "the embedded set is small enough to need a smaller batch"
    assert int(run.data.params["trainer.batch_size"]) == train_images // 20  # trainer.min_steps_per_epoch: 20
    assert "Training with batch size" in result.stdout + result.stderr
    history = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db").get_metric_history(run.info.run_id, "val_loss")
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    best = int(run.data.metrics["best_epoch"]) - 1
    assert best == int(np.argmin(values)) and run.data.metrics["best_val_loss"] == pytest.approx(values[best])


def _tiny_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of scikit-learn's 8x8 digits, shuffled (the set is ordered by writer), as float (count, 28, 28, 1) in [0, 1]."""
    digits = load_digits()
    chosen = np.random.default_rng(0).permutation(len(digits.target))[:count]
    images = np.kron(digits.images[chosen] / 16.0, np.ones((3, 3)))  # 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32)
    return images, digits.target[chosen].astype(np.int64)


@pytest.mark.parametrize(("momentum", "settles"), [(0.9, True), (0.99, False)])
def test_batch_norm_statistics_settle_within_a_few_steps(momentum: float, settles: bool) -> None:
    """After 80 steps, inference-mode accuracy on held-out digits follows training accuracy (with the fix)."""
    trainer.configure_runtime(seed=0)
    images, labels = _tiny_digits(800)
    model = build_model({**compose_config(["model=cnn_bn"]).model, "bn_momentum": momentum})
    model = trainer.compile_model(model, keras.optimizers.Adam(1e-3))
    fitted = model.fit(images[:640], labels[:640], batch_size=32, epochs=4, verbose=0, validation_data=(images[640:], labels[640:]))
    train_accuracy, val_accuracy = fitted.history["accuracy"][-1], fitted.history["val_accuracy"][-1]
    assert train_accuracy > 0.6, "the network learns in 80 steps"
    if settles:
        assert val_accuracy >= train_accuracy - 0.1
    else:
        assert val_accuracy < train_accuracy - 0.3, "Keras's default momentum still validates with stale statistics"


class _ScriptedValidation(keras.callbacks.Callback):
    """Replaces each epoch's validation metrics by a script and records the weights of every epoch.

    It runs before the callbacks under test, which see the scripted values: a
    run where val_loss and val_accuracy peak at different epochs, on demand.
    """

    def __init__(self, script: dict[str, list[float]]) -> None:
        super().__init__()
        self.script = script
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs.update({key: values[epoch] for key, values in self.script.items()})
        self.weights.append([w.copy() for w in self.model.get_weights()])


def test_one_best_epoch_is_checkpointed_restored_and_returned(tmp_path: Path) -> None:
    script = {"val_loss": [1.0, 0.4, 0.6, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.8, 0.95, 0.9]}
    assert int(np.argmin(script["val_loss"])) != int(np.argmax(script["val_accuracy"]))
    config = validate(compose_config(["model=tiny", "optimized_metric=val_accuracy", f"paths.output_dir={tmp_path}"]))
    trainer.configure_runtime(seed=0)
    images, labels = _tiny_digits(64)
    model = trainer.compile_model(build_model(config["model"]), keras.optimizers.Adam(1e-2))
    scripted = _ScriptedValidation(script)
    callbacks = [scripted, *build_callbacks(config["callbacks"], tmp_path)]
    history = model.fit(images, labels, validation_data=(images[:8], labels[:8]), epochs=5, callbacks=callbacks, verbose=0)

    epoch = selected_epoch(history.history, "val_accuracy", config["optimized_mode"], restores_best=True)
    assert epoch == 3
    expected = scripted.weights[epoch]
    restored = model.get_weights()
    checkpointed = keras.models.load_model(tmp_path / CHECKPOINT_FILE).get_weights()
    for want, early_stopping_weight, checkpoint_weight in zip(expected, restored, checkpointed):
        np.testing.assert_array_equal(early_stopping_weight, want)
        np.testing.assert_array_equal(checkpoint_weight, want)


@pytest.mark.e2e
def test_two_runs_of_one_command_train_alike_bit_for_bit(data_dir: Path, tmp_path: Path) -> None:
    """README's "Reproducible runs": the robust recipe's per-batch styles and transforms, prepared in
    tf.data's threads, draw from the run's seed alone, so a second run logs the very same losses."""
    args = ["experiment=robust", "debug=smoke", "epochs=2", "dataset.max_train_images=600", "trainer.verbose=0"]
    histories = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        result = run_cli("digit_experiments.train", args, cwd=workdir)
        assert result.returncode == 0, result.stderr[-3000:]
        run = _only_run(workdir / "mlruns" / "mlflow.db")
        client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
        histories.append({key: [m.value for m in client.get_metric_history(run.info.run_id, key)] for key in ("loss", "val_loss")})
    assert len(histories[0]["loss"]) == 2
    assert histories[0] == histories[1]


@pytest.mark.e2e
def test_two_runs_into_one_output_folder_both_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "same-folder"
    args = [
        f"hydra.run.dir={output}", "model=tiny", "augment=none", "dataset=embedded", "epochs=2", "trainer.verbose=0",
    ]
    first = run_cli("digit_experiments.train", args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("digit_experiments.train", args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already held an earlier run's files" in second.stdout + second.stderr
    (previous,) = output.glob("previous-*")
    assert (previous / "mlflow_model").is_dir() and (previous / CHECKPOINT_FILE).is_file()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}
    journals = {folder: json.loads(journal_header(folder).read_text())["run_id"] for folder in (previous, output)}
    assert set(journals.values()) == {run.info.run_id for run in runs}, "each folder's journal is its own run's"
    assert all(deliver_pending(folder) == (0, 0) for folder in (previous, output)), "nothing of either run is left to send"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)  # undone after the test; set_tracking_uri exports it
    mlflow.set_tracking_uri(client.tracking_uri)
    stroke = np.zeros((28, 28))
    stroke[4:24, 13:16] = 1.0  # a 1: the served model refuses a blank image
    for run in runs:
        answers = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(pd.DataFrame({"pixels": [stroke.tolist()] * 2}))
        assert np.stack(answers["probabilities"]).shape == (2, 10)
