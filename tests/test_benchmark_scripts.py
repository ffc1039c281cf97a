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

from digit_experiments.core.startup import IMPORT_CHATTER
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
    assert not [line for line in result.stderr.splitlines() if any(chatter in line for chatter in IMPORT_CHATTER)]
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


def run_script(script: str, arguments: list[str], cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """A benchmark script run as README gives it, from ``cwd``."""
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / script), *arguments], cwd=cwd,
                          env=command_environment(**env), capture_output=True, text=True, timeout=timeout)


#: What each script needs on its command line besides its outputs.
REQUIRED = {"box_filled.py": ["--models", "x"], "loose_scans.py": ["--models", "x"], "writer_styles.py": ["--models", "x"],
            "ensemble_members.py": ["--models", "x"], "tta_views.py": ["--models", "x"],
            "serving_throughput.py": ["--model-uri", "x"], "demo_latency.py": ["--model-uri", "x"]}


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_output_that_cannot_be_written_stops_the_benchmark_before_any_work(script: str, tmp_path: Path) -> None:
    """``--output`` under a regular file is refused at once (it used to crash at the very end, the work lost)."""
    (tmp_path / "a_file").write_text("")
    result = run_script(script, [*REQUIRED.get(script, []), "--output", str(tmp_path / "a_file" / "figures.json")], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"Error: --output {tmp_path / 'a_file' / 'figures.json'} cannot be written: {tmp_path / 'a_file'} is a file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("script", "arguments", "option"), [
    ("box_filled.py", ["--models", "x", "--images", "{file}"], "--images"),
    ("data_loading.py", ["--output", "{folder}"], "--output"),
    ("demo_latency.py", ["--model-uri", "x", "--screenshot", "{folder}"], "--screenshot"),
])
def test_a_file_where_a_folder_is_wanted_or_the_reverse_is_refused(script: str, arguments: list[str], option: str, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    filled = [argument.format(file=tmp_path / "a_file", folder=tmp_path) for argument in arguments]
    result = run_script(script, filled, tmp_path)
    assert result.returncode == 2 and f"Error: {option} " in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("script", "arguments", "message"), [
    ("data_loading.py", ["--dataset", "bogus"], "Could not find 'dataset/bogus' (conf/). The valid options are: auto, csv,"),
    ("time_to_accuracy.py", ["--recipes", "fast", "seeed"], "Could not find 'experiment/seeed' (conf/). The valid options are: ensemble, fast,"),
    ("time_to_accuracy.py", ["--recipes", "fast", "--overrides", "foo=1"], "Cannot compose the run config: Could not override 'foo'."),
    ("time_to_accuracy.py", ["--recipes", "fast", "--overrides", "epochs=-1"], "Invalid value for `epochs`: -1."),
    ("leave_one_source_out.py", ["--recipe", "bogus"], "Could not find 'experiment/bogus'"),
    ("leave_one_source_out.py", ["--sources", "usps", "bogus"], "--sources bogus: experiment=seed_mix has no such source. Its sources are mnist,"),
])
def test_every_recipe_override_and_source_is_checked_before_anything_trains(script: str, arguments: list[str], message: str, tmp_path: Path) -> None:
    """A mistake in the second recipe or source used to surface after the first had trained; Hydra's own as a traceback."""
    result = run_script(script, arguments, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("script", "arguments"), [
    ("writer_styles.py", ["--models", "x", "--top", "0"]),
    ("loose_scans.py", ["--models", "x", "--top", "-1"]),
    ("ensemble_members.py", ["--models", "x", "--max-members", "0"]),
    ("throughput.py", ["--batch-size", "-4"]),
    ("serving_throughput.py", ["--model-uri", "x", "--requests", "0"]),
    ("demo_latency.py", ["--model-uri", "x", "--strokes", "0"]),
    ("pruning.py", ["--trials", "0"]),
])
def test_a_count_below_one_is_refused_on_the_command_line(script: str, arguments: list[str], tmp_path: Path) -> None:
    """These crashed with a numpy or TensorFlow traceback, some after part of the work, or silently dropped a job."""
    result = run_script(script, arguments, tmp_path)
    assert result.returncode == 2 and "expected a whole number of at least 1" in result.stderr, result.stderr[-2000:]


@pytest.fixture
def benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripts' folder on ``sys.path``, as it is when a script runs."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "benchmarks"))


def test_a_search_started_in_a_throw_away_folder_reads_the_users_data(benchmarks_importable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pruning.py`` runs its search from a temporary folder: a relative ``DIGITS_DATA_DIR`` must reach it absolute."""
    from common import child_environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITS_DATA_DIR", "../shared/data")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///user.db")
    env = child_environment()
    assert env["DIGITS_DATA_DIR"] == str(tmp_path / "../shared/data") and "MLFLOW_TRACKING_URI" not in env


def test_the_runs_of_a_workdir_stay_in_its_store(benchmarks_importable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$MLFLOW_TRACKING_URI`` would send a benchmark's throw-away runs to the user's store, and its read-back there."""
    import os

    from common import workdir_store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///user.db")
    assert workdir_store(tmp_path) == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_the_probability_cache_is_keyed_by_split_seed_and_model_identity(benchmarks_importable, tmp_path: Path) -> None:
    """A second split seed, an alias moved to another run, or a retrained file must not reuse the first probabilities."""
    import os
    from types import SimpleNamespace

    from ensemble_members import cache_key

    def model(uri: str, run_id: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(members=[SimpleNamespace(uri=uri, run_id=run_id)])

    alias = "models:/digits@champion"
    assert cache_key(model(alias, "run-a"), 42) == cache_key(model(alias, "run-a"), 42)
    assert cache_key(model(alias, "run-a"), 42) != cache_key(model(alias, "run-a"), 7)
    assert cache_key(model(alias, "run-a"), 42) != cache_key(model(alias, "run-b"), 42)
    checkpoint = tmp_path / "best.keras"
    checkpoint.write_bytes(b"first")
    first = cache_key(model(str(checkpoint)), 42)
    checkpoint.write_bytes(b"retrained")
    os.utime(checkpoint, ns=(1, 1))
    assert cache_key(model(str(checkpoint)), 42) != first


def test_the_time_to_accuracy_plot_shows_a_short_runs_figures(benchmarks_importable) -> None:
    """A fixed 98.5-100 % axis left a smoke run's plot empty."""
    from time_to_accuracy import axis_floor

    assert axis_floor([{"epochs": [{"test_accuracy": 0.991}, {"test_accuracy": 0.996}]}]) == 98.5
    assert axis_floor([{"epochs": [{"test_accuracy": 0.93}]}]) == pytest.approx(92.5)


def test_a_missing_chromium_is_named_before_the_demo_starts(benchmarks_importable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Chromium the benchmark used to start the demo, then stop with Playwright's traceback."""
    import demo_latency
    from digit_experiments.core.errors import UserError

    monkeypatch.setattr(demo_latency, "CHROMIUM", str(tmp_path / "chromium"))
    with pytest.raises(UserError, match="apt-get install chromium"):
        demo_latency.check_browser()


@pytest.mark.e2e
def test_leave_one_source_out_reads_back_the_newest_run_of_a_reused_workdir(benchmarks_importable, smoke_run, tmp_path: Path) -> None:
    """A reused ``--workdir`` holds an earlier run of the same folder: the figures are the newest run's."""
    import shutil

    import mlflow
    from leave_one_source_out import run_metrics

    shutil.copy(smoke_run.workdir / "mlruns" / "mlflow.db", tmp_path / "mlflow.db")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    output_dir = smoke_run.run.data.tags["output_dir"]
    assert run_metrics(store, Path(output_dir)) == smoke_run.run.data.metrics
    client = mlflow.MlflowClient(store)
    newer = client.create_run(smoke_run.run.info.experiment_id, tags={"output_dir": output_dir})
    client.log_metric(newer.info.run_id, "best_epoch", 99)
    assert run_metrics(store, Path(output_dir)) == {"best_epoch": 99}


@pytest.mark.e2e
def test_ensemble_members_loads_every_model_before_scoring_any(smoke_run, tmp_path: Path) -> None:
    """A wrong second reference used to fail after the first model was scored and cached."""
    missing = tmp_path / "no_such_model.keras"
    result = run_script("ensemble_members.py", ["--models", f"runs:/{smoke_run.run_id}/model", str(missing), "--cache", str(tmp_path / "cache"),
                                                "--output", str(tmp_path / "figures.json")], tmp_path, timeout=240, MLFLOW_TRACKING_URI=smoke_run.store)
    assert result.returncode == 2 and f"Error: Model '{missing}' not found" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "figures.json").exists()


@pytest.mark.parametrize(("arguments", "figures"), [
    ([], "box_filled.json"), (["--limit", "20"], "box_filled_limit20.json"),
])
def test_a_quick_look_with_limit_does_not_overwrite_the_published_figures(
    arguments: list[str], figures: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--limit` used to write its figures over benchmarks/results/box_filled.json, which README quotes."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "benchmarks"))
    import common

    monkeypatch.setattr(sys, "argv", ["box_filled.py", "--models", "x", "--images", str(tmp_path / "images"), *arguments])
    assert common.image_set_arguments("Box-filled digits.", "box_filled", split=True).output == common.RESULTS / figures
