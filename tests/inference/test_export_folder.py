"""Where ``export`` writes: the folder is checked before any work, and a second export replaces the first whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.inference.export import check_export_folder, export_model, loading_note
from digit_experiments.model import build_model
from helpers import run_cli
from helpers.cli import command_environment


@pytest.mark.parametrize(("output", "message"), [
    ("", "`output` is empty"),
    (" ", "`output` is empty"),
    ("digits.keras", "looks like a file name, but export writes a folder"),
    ("a_file", "a_file is a file, not a folder"),
    ("a_file/sub", "a_file is a file, not a folder"),
    ("f" * 300, "File name too long"),
])
def test_an_output_that_cannot_be_an_export_folder_is_refused(output: str, message: str, tmp_path: Path, monkeypatch) -> None:
    """Before: a traceback after loading the model, a folder named `digits.keras`, or an export into the current folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(UserError, match=message):
        check_export_folder(output)
    assert check_export_folder("exports/digits") == tmp_path / "exports" / "digits"
    assert not (tmp_path / "exports").exists(), "checking creates nothing"


@pytest.mark.skipif(not Path("/proc/self/mounts").is_file(), reason="no /proc: not Linux")
def test_an_output_in_a_kernel_file_system_names_it() -> None:
    """Before: "/proc cannot be written to (No such file or directory)", although /proc exists."""
    with pytest.raises(UserError) as error:
        check_export_folder("/proc/nope")
    assert "/proc is the kernel's `proc` file system, which holds only the kernel's own entries" in str(error.value)
    assert "No such file or directory" not in str(error.value)


def test_the_command_checks_the_folder_before_loading_the_model(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    result = run_cli("digit_experiments.export", ["model_uri=no/such.keras", "output=a_file"], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "a_file is a file, not a folder" in result.stderr, result.stderr[-2000:]
    assert "not found" not in result.stderr and "Traceback" not in result.stderr


def test_a_second_export_into_the_same_folder_leaves_no_file_of_the_first(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    keras_file, saved_model = export_model(model, tmp_path)
    (saved_model / "stale.txt").write_text("from an earlier export")
    export_model(model, tmp_path)
    assert not (saved_model / "stale.txt").exists() and (saved_model / "saved_model.pb").is_file()
    images = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(keras.models.load_model(keras_file).predict(images, verbose=0), model.predict(images, verbose=0))
    assert loading_note(keras_file) is None, "a model of Keras's own layers needs no import"


def _loads_in_a_fresh_interpreter(keras_file: Path, first: str) -> subprocess.CompletedProcess[str]:
    """``keras.models.load_model(keras_file)`` in a new Python process that runs ``first`` before it."""
    script = f"{first}\nimport keras\nkeras.models.load_model({str(keras_file)!r})\n"
    return subprocess.run([sys.executable, "-c", script], env=command_environment(), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.e2e
def test_exporting_a_deskewing_model_names_the_import_its_keras_file_needs(tmp_path: Path) -> None:
    """Before: silence, and a bare `keras.models.load_model("export/model.keras")` failed with "could not be deserialized"."""
    build_model({"name": "tiny", "deskew": True}).save(tmp_path / "deskewing.keras")
    result = run_cli("digit_experiments.export", ["model_uri=deskewing.keras", "output=export"], cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    keras_file = tmp_path / "export" / "model.keras"
    assert result.stdout.split() == [str(keras_file), str(tmp_path / "export" / "saved_model")], "stdout: the paths alone"
    assert ("model.keras holds this project's Deskew class: run `import digit_experiments.model.deskew` (with "
            "digit_experiments installed) before keras.models.load_model; saved_model/ loads without it.") in result.stderr
    bare = _loads_in_a_fresh_interpreter(keras_file, "")
    assert bare.returncode != 0 and "Could not locate class 'Deskew'" in bare.stderr
    imported = _loads_in_a_fresh_interpreter(keras_file, "import digit_experiments.model.deskew")
    assert imported.returncode == 0, imported.stderr[-2000:]
    saved_model = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['digit_experiments'] = None  # no import of the package works\n"
         f"import tensorflow as tf; tf.saved_model.load({str(tmp_path / 'export' / 'saved_model')!r})"],
        env=command_environment(), capture_output=True, text=True, timeout=120,
    )
    assert saved_model.returncode == 0, saved_model.stderr[-2000:]
