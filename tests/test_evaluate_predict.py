"""Evaluate, predict and export through their real CLIs, on a smoke-trained model."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pytest

from digit_experiments.dataset.io.idx import read_idx

from helpers import run_cli
from helpers.hostile import png_bomb

pytestmark = pytest.mark.e2e

def mnist_test_images(data_dir: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` MNIST test images and labels."""
    mnist = data_dir / "mnist"
    return read_idx(mnist / "t10k-images-idx3-ubyte.gz")[:count], read_idx(mnist / "t10k-labels-idx1-ubyte.gz")[:count]


@pytest.fixture(scope="module")
def trained(smoke_run) -> tuple[Path, str]:
    """The session's smoke-trained model: its working directory (holding ``mlruns/``) and run id."""
    return smoke_run.workdir, smoke_run.run_id


@pytest.fixture(scope="module")
def image_folder(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 MNIST test PNGs, one of them also as a large, inverted colour JPEG, a broken file and a decompression bomb."""
    folder = tmp_path_factory.mktemp("images")
    images, labels = mnist_test_images(data_dir, 12)
    for i, (image, label) in enumerate(zip(images, labels)):
        cv2.imwrite(str(folder / f"{i:02d}_{label}.png"), image)
    big = cv2.resize(255 - images[0], (140, 140), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(folder / "zz_big_inverted.jpg"), cv2.merge([big, big // 2, big]))
    (folder / "zz_broken.png").write_bytes(b"not an image")
    (folder / "zz_bomb.png").write_bytes(png_bomb())
    return folder


def table_rows(printed: str) -> list[dict[str, str]]:
    """The rows of ``evaluate``'s printed table, as ``{column: cell}``."""
    header, *rows = printed.strip().splitlines()
    return [dict(zip(header.split(), row.split())) for row in rows]


def test_evaluate_prints_the_table_and_logs_a_linked_run(trained, data_dir: Path) -> None:
    workdir, run_id = trained
    result = run_cli(
        "digit_experiments.evaluate",
        [f"model_uri=runs:/{run_id}/model", "dataset.max_test_images_per_source=500", "log=true"], cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Downloading artifacts" not in result.stderr, "no download bars in output that is not a terminal"
    (row,) = table_rows(result.stdout)
    assert list(row) == ["source", "n", "accuracy", "ci95_low", "ci95_high", "loss", "macro_f1"]
    source, n, accuracy, low, high, loss, macro_f1 = row.values()
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    training = client.get_run(run_id)
    assert (source, n) == ("mnist", "500")
    assert float(accuracy) == pytest.approx(training.data.metrics["test_mnist_accuracy"], abs=1e-4)
    assert float(loss) == pytest.approx(training.data.metrics["test_mnist_loss"], abs=1e-3)
    assert float(low) < float(accuracy) < float(high)
    assert float(low) == pytest.approx(training.data.metrics["test_mnist_accuracy_ci95_low"], abs=1e-4)
    (evaluation,) = client.search_runs(
        [training.info.experiment_id], filter_string=f"tags.evaluated_run_id = '{run_id}'"
    )
    assert evaluation.info.status == "FINISHED"
    assert evaluation.data.metrics["test_mnist_macro_f1"] == pytest.approx(float(macro_f1), abs=1e-4)
    artifacts = {f.path for folder in ("evaluation", "plots") for f in client.list_artifacts(evaluation.info.run_id, folder)}
    assert {"evaluation/scores.csv", "plots/confusion_matrix_mnist.png"} <= artifacts


def test_a_checkpoint_in_its_run_folder_is_linked_to_its_run_and_an_export_to_none(smoke_run, tmp_path: Path) -> None:
    """`evaluate log=true` on a run's checkpoints/best.keras tagged an empty `evaluated_run_id`."""
    from digit_experiments.inference.loading import load_member
    from digit_experiments.tracking.tags import OUTPUT_DIR_TAG

    checkpoint = Path(smoke_run.run.data.tags[OUTPUT_DIR_TAG]) / "checkpoints" / "best.keras"
    assert load_member(str(checkpoint)).run_id == smoke_run.run.info.run_id
    copied = tmp_path / "checkpoints" / "best.keras"
    copied.parent.mkdir()
    copied.write_bytes(checkpoint.read_bytes())
    assert load_member(str(copied)).run_id is None


def test_export_then_evaluate_an_ensemble_without_the_store(trained, tmp_path: Path) -> None:
    workdir, run_id = trained
    result = run_cli("digit_experiments.export", [f"model_uri=runs:/{run_id}/model", f"output={tmp_path}/export"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [f"{tmp_path}/export/model.keras", f"{tmp_path}/export/saved_model"], "the paths alone"
    assert (tmp_path / "export" / "model.keras").is_file() and (tmp_path / "export" / "saved_model" / "saved_model.pb").is_file()
    elsewhere = tmp_path / "elsewhere"  # no MLflow store here: the files alone are enough
    elsewhere.mkdir()
    single = run_cli("digit_experiments.evaluate", [f"model_uri={tmp_path}/export/model.keras", "dataset.max_test_images_per_source=300"], cwd=elsewhere)
    ensemble = run_cli(
        "digit_experiments.evaluate",
        [f"model_uri=[{tmp_path}/export/model.keras,{tmp_path}/export/saved_model]", "dataset.max_test_images_per_source=300"],
        cwd=elsewhere,
    )
    assert single.returncode == 0 and ensemble.returncode == 0, single.stderr[-2000:] + ensemble.stderr[-2000:]
    assert single.stdout == ensemble.stdout, "two copies of one model average to the same predictions"


def test_evaluate_with_tta_scores_a_folder_as_predict_with_tta_scores_its_files(trained, data_dir: Path, tmp_path: Path) -> None:
    workdir, run_id = trained
    images, labels = mnist_test_images(data_dir, 60)
    for split in ("train", "test"):
        for i, (image, label) in enumerate(zip(images, labels)):
            path = tmp_path / "digits" / split / str(label) / f"{i:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
    folder = ["dataset=folder", f"dataset.sources.folder.path={tmp_path}/digits"]
    evaluated = {
        tta: run_cli("digit_experiments.evaluate", [f"model_uri=runs:/{run_id}/model", *folder, f"tta={tta}", "log=true"], cwd=workdir)
        for tta in ("false", "true")
    }
    predicted = run_cli(
        "digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={tmp_path}/digits/test", "tta=true", "format=json"], cwd=workdir
    )
    assert predicted.returncode == 0 and all(r.returncode == 0 for r in evaluated.values()), predicted.stderr[-3000:]
    rows = json.loads(predicted.stdout)
    predict_accuracy = np.mean([row["digit"] == int(Path(row["file"]).parent.name) for row in rows])
    predict_loss = -np.mean([np.log(max(row["probabilities"][int(Path(row["file"]).parent.name)], 1e-7)) for row in rows])
    (row,) = table_rows(evaluated["true"].stdout)
    n, accuracy, loss = row["n"], row["accuracy"], row["loss"]
    assert int(n) == len(rows) == 60
    assert float(accuracy) == pytest.approx(predict_accuracy, abs=1e-4)
    assert float(loss) == pytest.approx(predict_loss, abs=2e-3)
    assert evaluated["true"].stdout != evaluated["false"].stdout, "the views change the probabilities"
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    experiment_id = client.get_run(run_id).info.experiment_id
    tagged = client.search_runs([experiment_id], filter_string=f"tags.evaluated_run_id = '{run_id}' and tags.`evaluation.tta` = 'true'")
    assert len(tagged) == 1


@pytest.mark.parametrize("uri, message", [
    ("runs:/0123456789abcdef/model", "Cannot load model 'runs:/0123456789abcdef/model'"),
    ("no/such/model.keras", "Model 'no/such/model.keras' not found"),
    ('"[no/such/a.keras, no/such/b.keras]"', "Model 'no/such/a.keras' not found"),  # a quoted list is still a list
])
def test_bad_model_uri_is_a_clear_error(trained, uri: str, message: str) -> None:
    workdir, _ = trained
    result = run_cli("digit_experiments.evaluate", [f"model_uri={uri}"], cwd=workdir, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("module, arguments, message", [
    ("digit_experiments.evaluate", [], "The command needs `model_uri`"),
    ("digit_experiments.export", ["model_uri=model.keras"], "The command needs `output`"),  # not a folder named ???
    ("digit_experiments.predict", ["model_uri=model.keras", "inputs=a.png", "tta=no"], "`tta`: 'no'. It must be true or false"),
    ("digit_experiments.evaluate", ["model_uri=model.keras", "batch_size=0"], "`batch_size`: 0"),
    ("digit_experiments.predict", ["model_uri=model.keras", "inputs=a.png", "top=0"], "`top`: 0"),
    ("digit_experiments.demo", ["model_uri=model.keras", "port=70000"], "`port`: 70000"),
    ("digit_experiments.predict", ["model_uri=model.keras", "inputs=[]"], "`inputs` is empty"),
])
def test_a_missing_or_mistyped_option_stops_a_command_before_any_work(
    module: str, arguments: list[str], message: str, tmp_path: Path
) -> None:
    result = run_cli(module, arguments, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "???").exists()


def test_a_file_that_is_not_a_keras_archive_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_text("not a zip")
    result = run_cli("digit_experiments.evaluate", ["model_uri=model.keras", "suite=robustness"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "is a zip archive, and this file is not" in result.stderr, result.stderr[-2000:]


def test_an_unknown_suite_is_refused_before_the_model_is_loaded(tmp_path: Path) -> None:
    result = run_cli("digit_experiments.evaluate", ["model_uri=no/such.keras", "suite=bogus"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Unknown evaluation suite 'bogus'" in result.stderr, result.stderr[-2000:]


def test_predict_names_an_empty_folder_as_a_failed_input(trained, tmp_path: Path) -> None:
    workdir, run_id = trained
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    result = run_cli("digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={tmp_path / 'empty'}"], cwd=workdir)
    assert result.returncode == 1 and "a folder with no image files in it" in result.stdout, result.stdout + result.stderr[-2000:]


def test_predict_reports_each_file_and_fails_only_the_broken_one(trained, image_folder: Path, data_dir: Path) -> None:
    workdir, run_id = trained
    result = run_cli("digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={image_folder}", "format=json"], cwd=workdir)
    assert result.returncode == 1, "two files failed"
    rows = {Path(r["file"]).name: r for r in json.loads(result.stdout)}
    assert len(rows) == 15
    assert "not an image" in rows["zz_broken.png"]["error"]
    assert "decompression bomb" in rows["zz_bomb.png"]["error"], "a bomb is one error line, the rest is scored"
    _, labels = mnist_test_images(data_dir, 12)
    good = [rows[f"{i:02d}_{label}.png"] for i, label in enumerate(labels)]
    assert all(r["digit"] == int(np.argmax(r["probabilities"])) and 0 < r["probability"] <= 1 for r in good)
    assert np.mean([r["digit"] == label for r, label in zip(good, labels)]) >= 0.5
    inverted = np.array(rows["zz_big_inverted.jpg"]["probabilities"])
    assert np.abs(inverted - np.array(good[0]["probabilities"])).max() < 0.2, "standardised like the original"


def test_predict_tta_with_nothing_decodable_reports_the_files(trained, image_folder: Path) -> None:
    workdir, run_id = trained
    result = run_cli(
        "digit_experiments.predict",
        [f"model_uri=runs:/{run_id}/model", f"inputs=[{image_folder}/zz_broken.png,{image_folder}/zz_bomb.png]", "tta=true"],
        cwd=workdir,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "zz_bomb.png" in result.stdout and "zz_broken.png" in result.stdout


def test_predict_table_csv_globs_tta_and_ensembles(trained, image_folder: Path) -> None:
    workdir, run_id = trained
    uri = f"runs:/{run_id}/model"
    table = run_cli("digit_experiments.predict", [f"model_uri={uri}", f"inputs={image_folder}/0*.png"], cwd=workdir)
    assert table.returncode == 0, table.stderr[-3000:]
    lines = table.stdout.strip().splitlines()
    assert lines[0].split() == ["file", "digit", "probability"] and len(lines) == 11
    tta = run_cli(
        "digit_experiments.predict",
        [f"model_uri=[{uri},{uri}]", f"inputs=[{image_folder}/00_7.png,{image_folder}/missing.png]", "format=csv", "tta=true"],
        cwd=workdir,
    )
    assert tta.returncode == 1
    rows = list(csv.DictReader(io.StringIO(tta.stdout)))
    assert rows[0]["digit"] != "" and rows[1]["error"] == "no such file or folder"


def test_predict_a_folder_copied_elsewhere_with_the_exported_model(trained, image_folder: Path, tmp_path: Path) -> None:
    workdir, run_id = trained
    run_cli("digit_experiments.export", [f"model_uri=runs:/{run_id}/model", f"output={tmp_path}/export"], cwd=workdir)
    shutil.copy(image_folder / "00_7.png", tmp_path / "seven.png")
    from_store = run_cli("digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={tmp_path}/seven.png", "format=json"], cwd=workdir)
    exported = run_cli("digit_experiments.predict", [f"model_uri={tmp_path}/export/saved_model", f"inputs={tmp_path}/seven.png", "format=json"], cwd=tmp_path)
    assert from_store.returncode == exported.returncode == 0, exported.stderr[-3000:]
    assert json.loads(from_store.stdout)[0]["probabilities"] == pytest.approx(json.loads(exported.stdout)[0]["probabilities"], abs=1e-5)


def test_the_robustness_suite_scores_every_corruption_and_logs_the_mean_corruption_error(trained) -> None:
    workdir, run_id = trained
    result = run_cli(
        "digit_experiments.evaluate",
        [f"model_uri=runs:/{run_id}/model", "dataset.max_test_images_per_source=200", "suite=robustness", "log=true"],
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ") and "corruption" not in line]
    corruptions = [cells[0].strip() for cells in table]
    assert corruptions[0] == "clean" and corruptions[-1] == "mean (mCE)" and {"rotate", "inverse", "thick"} <= set(corruptions)
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    (evaluation,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string=f"tags.evaluated_run_id = '{run_id}' and metrics.robustness_mnist_mce > 0",
    )
    mce = float(table[-1][4])
    assert evaluation.data.metrics["robustness_mnist_mce"] == pytest.approx(mce, abs=1e-4)
    artifacts = {f.path for folder in ("evaluation", "plots") for f in client.list_artifacts(evaluation.info.run_id, folder)}
    assert {"evaluation/robustness.csv", "plots/robustness_examples.png"} <= artifacts
