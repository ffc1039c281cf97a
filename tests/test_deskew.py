"""The Deskew layer: slanted strokes come out upright, in a model that saves, loads and keeps its size."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from digit_experiments.model import build_model
from digit_experiments.model.deskew import Deskew


def slant(images: np.ndarray) -> np.ndarray:
    """Columns per row of each ``(n, 28, 28)`` image's ink: row-column covariance over row variance."""
    grid = np.arange(28, dtype=np.float64)
    mass = images.sum(axis=(1, 2))
    rows = grid[None, :, None] - ((images.sum(axis=2) @ grid) / mass)[:, None, None]
    columns = grid[None, None, :] - ((images.sum(axis=1) @ grid) / mass)[:, None, None]
    return (rows * columns * images).sum(axis=(1, 2)) / (rows * rows * images).sum(axis=(1, 2))


def leaning_strokes(leans: list[float]) -> np.ndarray:
    """A "1" per lean: a stroke from row 4 to row 23 whose column moves ``lean`` per row, in [0, 1]."""
    images = np.zeros((len(leans), 28, 28), np.float32)
    for image, lean in zip(images, leans):
        cv2.line(image, (int(round(14 - 9.5 * lean)), 4), (int(round(14 + 9.5 * lean)), 23), 1.0, 2, cv2.LINE_AA)
    return images


def test_leaning_strokes_come_out_upright_with_their_ink_and_centre() -> None:
    strokes = leaning_strokes([-0.5, -0.2, 0.3, 0.6])
    assert np.all(np.abs(slant(strokes)) > 0.15)
    upright = np.asarray(Deskew()(strokes[..., None]))[..., 0]
    assert np.all(np.abs(slant(upright)) < 0.03)
    np.testing.assert_allclose(upright.sum(axis=(1, 2)), strokes.sum(axis=(1, 2)), rtol=0.02)
    columns = np.arange(28)
    centre = lambda images: (images.sum(axis=1) @ columns) / images.sum(axis=(1, 2))  # noqa: E731
    np.testing.assert_allclose(centre(upright), centre(strokes), atol=0.2)


def test_an_upright_or_blank_image_is_left_as_it_is() -> None:
    upright, blank = leaning_strokes([0.0])[0], np.zeros((28, 28), np.float32)
    out = np.asarray(Deskew()(np.stack([upright, blank])[..., None]))[..., 0]
    np.testing.assert_allclose(out, np.stack([upright, blank]), atol=1e-4)


def test_the_slant_removed_is_clipped() -> None:
    flat = np.zeros((1, 28, 28), np.float32)
    cv2.line(flat[0], (2, 12), (25, 15), 1.0, 1)  # nearly horizontal: its row variance is tiny
    out = np.asarray(Deskew(max_slant=0.5)(flat[..., None]))[..., 0]
    assert slant(flat)[0] > 5  # the estimate a stray mark can give
    assert np.isfinite(out).all() and slant(flat)[0] - slant(out)[0] == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("name", ["cnn_bn", "tiny"])
def test_a_deskewing_model_keeps_its_size_and_survives_save_and_load(name: str, tmp_path) -> None:
    plain, deskewing = build_model({"name": name}), build_model({"name": name, "deskew": True})
    assert deskewing.layers[1].name == "deskew" and deskewing.count_params() == plain.count_params()
    path = tmp_path / "model.keras"
    deskewing.save(path)
    images = leaning_strokes([0.4, -0.3])[..., None]
    np.testing.assert_allclose(keras.models.load_model(path)(images), deskewing(images), atol=1e-6)


def test_deskew_computes_in_float32_under_mixed_precision() -> None:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = Deskew()
        out = layer(leaning_strokes([0.5])[..., None])
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert layer.compute_dtype == "float32" and out.dtype == "float32"
    assert abs(slant(np.asarray(out)[..., 0])[0]) < 0.03


def test_deskew_runs_on_batches_of_unknown_static_shape() -> None:
    import tensorflow as tf

    layer = Deskew()
    deskew = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    out = deskew(tf.constant(leaning_strokes([0.5])[..., None])).numpy()
    assert abs(slant(out[..., 0])[0]) < 0.03


def test_a_deskewing_model_trains_logs_and_serves_from_a_fresh_interpreter(data_dir, tmp_path) -> None:
    """``model.deskew=true`` through the real CLI; the logged model then loads in a process that imported nothing of ours."""
    import json
    import subprocess
    import sys

    import mlflow

    from helpers import run_cli
    from helpers.cli import command_environment

    result = run_cli("digit_experiments.train", ["debug=smoke", "model=tiny", "model.deskew=true", "trainer.verbose=0"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    assert run.data.params["model.deskew"] == "True"
    strokes = np.round(leaning_strokes([0.4, -0.4]), 3).tolist()
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({store!r})\n"
        f"model = mlflow.pyfunc.load_model('runs:/{run.info.run_id}/model')\n"
        "answers = model.predict(pd.DataFrame({'pixels': json.loads(sys.stdin.read())}))\n"
        "print(json.dumps(answers['digit'].tolist()))\n"
    )
    served = subprocess.run([sys.executable, "-c", script], input=json.dumps(strokes), capture_output=True, text=True,
                            env=command_environment(), cwd=tmp_path, timeout=240)
    assert served.returncode == 0, served.stderr[-3000:]
    assert len(json.loads(served.stdout.strip().splitlines()[-1])) == 2
