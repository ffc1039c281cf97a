"""The benchmark scripts stop on a user mistake as the commands do: one paragraph and exit status 2.

They are run for real in a subprocess, as README gives them, with a model reference that
does not exist; the check must come before any image is drawn or any figure saved. Every
script's ``--help`` answers without loading TensorFlow or MLflow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import PROJECT_ROOT, command_environment, imported_modules, top_level


#: The benchmarks that draw an image set and score models on it through ``predict``'s standardisation.
IMAGE_SET_SCRIPTS = ["box_filled.py", "loose_scans.py", "writer_styles.py"]


@pytest.mark.parametrize("script", IMAGE_SET_SCRIPTS)
def test_a_model_that_does_not_exist_stops_the_benchmark_before_any_work(script: str, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model.keras"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), "--models", str(missing),
         "--images", str(tmp_path / "images"), "--output", str(tmp_path / "figures.json")],
        cwd=tmp_path, env=command_environment(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}"),
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"Error: Model '{missing}' not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "images").exists() and not (tmp_path / "figures.json").exists()


#: Every benchmark script; ``common.py`` and ``callbacks.py`` are what the scripts share.
SCRIPTS = sorted(path.name for path in (PROJECT_ROOT / "benchmarks").glob("*.py") if path.name not in {"common.py", "callbacks.py"})


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_without_loading_tensorflow_or_mlflow(script: str, tmp_path: Path) -> None:
    """``--help`` is read before any work: the frameworks load only when models are loaded or a training starts."""
    result, modules = imported_modules([str(PROJECT_ROOT / "benchmarks" / script), "--help"], tmp_path, ("argparse",))
    assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr[-2000:]
    assert not top_level(modules) & {"tensorflow", "keras", "mlflow"}


@pytest.mark.e2e
@pytest.mark.parametrize(("script", "folders"), [
    ("box_filled.py", ["mnist_validation"]),
    ("loose_scans.py", [f"{condition}/mnist_validation" for condition in ("clean", "1_speck", "2_specks", "shadow", "noise", "ruled", "cell", "neighbour", "dashed")]),
])
def test_scans_of_the_validation_split_never_read_a_test_set(smoke_run, tmp_path: Path, script: str, folders: list[str]) -> None:
    """``--split validation`` scores MNIST's validation images of ``dataset=unseen_usps`` (the first 300 of its 6,000
    here, ``--limit``), so a recipe can be chosen on it."""
    import json

    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), "--models", f"runs:/{smoke_run.run_id}/model",
         "--split", "validation", "--limit", "300", "--images", str(tmp_path / "images"), "--output", str(tmp_path / "figures.json")],
        cwd=tmp_path, env=command_environment(MLFLOW_TRACKING_URI=smoke_run.store), capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((tmp_path / "figures.json").read_text())
    (by_source,) = figures["accuracy"].values()
    assert figures["split"] == "validation" and figures["limit"] == 300 and list(by_source) == ["mnist_validation"]
    assert [len(list((tmp_path / "images" / folder).rglob("*.png"))) for folder in folders] == [300] * len(folders)
    assert f"| runs:/{smoke_run.run_id}/model | mnist_validation | 300 |" in result.stdout


@pytest.mark.e2e
def test_ensemble_members_scores_each_model_once_and_chooses_on_validation(smoke_run, tmp_path: Path) -> None:
    """``ensemble_members.py`` caches each model's probabilities, then reports every row for both view sets."""
    import json

    reference = f"runs:/{smoke_run.run_id}/model"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "ensemble_members.py"), "--models", reference,
         "--cache", str(tmp_path / "cache"), "--output", str(tmp_path / "figures.json")],
        cwd=tmp_path, env=command_environment(MLFLOW_TRACKING_URI=smoke_run.store), capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {(row["views"], row["ensemble"]): row for row in json.loads((tmp_path / "figures.json").read_text())["rows"]}
    assert set(rows) == {(views, name) for views in ("identity", "tta") for name in (reference, "all", "chosen on validation")}
    assert all(row["members"] == [0] for row in rows.values())
    assert 0.5 < rows[("identity", reference)]["test_accuracy"] < 1.0  # a smoke model: about 0.93
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


@pytest.mark.e2e
def test_a_list_reference_is_scored_as_one_ensemble(smoke_run, tmp_path: Path) -> None:
    """``--models "[a, b]"`` takes the list as ``evaluate``'s ``model_uri`` does: one column, the members averaged."""
    import json

    single = f"runs:/{smoke_run.run_id}/model"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "writer_styles.py"), "--models", single, f"[{single}, {single}]",
         "--images", str(tmp_path / "images"), "--output", str(tmp_path / "figures.json")],
        cwd=tmp_path, env=command_environment(MLFLOW_TRACKING_URI=smoke_run.store), capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    short = smoke_run.run_id[:8]
    assert f"| style | n | {short} | {short}+{short} |" in result.stdout
    accuracy = json.loads((tmp_path / "figures.json").read_text())["accuracy"]
    assert list(accuracy) == [single, f"[{single}, {single}]"]
    assert accuracy[single] == accuracy[f"[{single}, {single}]"], "two copies of one model average to its own predictions"
