"""The served model's input checks (the HTTP answers are in tests/test_serve.py)."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import Array, ColSpec, Schema

from digit_experiments.dataset.standardise import standardise_images
from digit_experiments.inference.encoded_images import decode_base64
from digit_experiments.inference.serving import SIGNATURE, ServedClassifier, use_checked_pyfunc


def _stroke() -> np.ndarray:
    """A 28x28 vertical bar of light ink on black: an image with ink."""
    return cv2.line(np.zeros((28, 28), np.uint8), (14, 4), (14, 23), 255, 3)


def _png(image: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def _refusal(data) -> MlflowException:
    with pytest.raises(MlflowException) as raised:
        ServedClassifier(model=None, max_images=4).checked(ServedClassifier(model=None, max_images=4).images(data))
    assert raised.value.get_http_status_code() == 400
    return raised.value


@pytest.mark.parametrize(("data", "message"), [
    (np.zeros((2, 28, 28, 1)), 'column "image"'),
    (pd.DataFrame({"other": [1]}), 'column "image"'),
    (pd.DataFrame({"pixels": [np.zeros((28, 27)).tolist()]}), "has shape (28, 27)"),
    (pd.DataFrame({"pixels": [[["a"] * 28] * 28]}), "not a 28x28 array of numbers"),
    (pd.DataFrame({"pixels": []}), "holds no image"),
    (pd.DataFrame({"pixels": [np.zeros((28, 28)).tolist()] * 5}), "over this server's limit of 4"),
    (pd.DataFrame({"pixels": [np.full((28, 28), np.nan).tolist()]}), "not finite numbers in [0, 1]"),
    (pd.DataFrame({"pixels": [np.full((28, 28), -0.5).tolist()]}), "not finite numbers in [0, 1]"),
    (pd.DataFrame({"image": ["%%%"]}), "not valid base64"),
    (pd.DataFrame({"image": [base64.b64encode(b"GIF89a but truncated").decode()]}), "cannot be used"),
    (pd.DataFrame({"image": [None], "pixels": [None]}), 'Row 0 has neither an "image" nor "pixels"'),
    (pd.DataFrame([{"image": "%%%"}, {"pixels": np.zeros((28, 28)).tolist()}]), "Row 0: the \"image\" is not valid base64"),
    (pd.DataFrame([{"image": _png(np.zeros((28, 28), np.uint8))}, {}]), 'Row 1 has neither an "image" nor "pixels"'),
    (pd.DataFrame([{"image": _png(np.zeros((28, 28), np.uint8)), "pixels": np.zeros((28, 28)).tolist()}]),
     'Row 0 has both an "image" and "pixels"'),
    (pd.DataFrame({"image": [_png(_stroke()), _png(np.zeros((40, 30), np.uint8))]}), 'Row 1: the "image" cannot be used: it holds no digit'),
    (pd.DataFrame({"image": [_png(np.full((28, 28), 128, np.uint8))]}), "crop the photo to it"),
    (pd.DataFrame({"pixels": [(_stroke() / 255).tolist(), np.zeros((28, 28)).tolist()]}), "Image 1 (and 0 more) is blank"),
])
def test_inputs_the_network_was_not_trained_on_are_refused_with_the_fix(data, message: str) -> None:
    assert message in _refusal(data).message


def test_image_files_are_standardised_like_training_data_and_pixels_pass_through() -> None:
    ink = np.zeros((60, 40), np.uint8)
    cv2.line(ink, (20, 5), (20, 55), 255, 5)
    paper = 255 - cv2.resize(ink, (120, 180))  # dark ink on light paper, another size
    rows = pd.DataFrame({"image": [_png(paper), None], "pixels": [None, np.full((28, 28), 0.5).tolist()]})
    batch = ServedClassifier(model=None).images(rows)
    np.testing.assert_array_equal(batch[0, ..., 0], standardise_images([paper])[0] / np.float32(255))
    assert np.all(batch[1] == 0.5) and batch.shape == (2, 28, 28, 1)


def test_browser_data_urls_and_url_safe_base64_decode() -> None:
    data = bytes(range(256))
    plain = base64.b64encode(data).decode()
    assert decode_base64(f"data:image/png;base64,{plain}") == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode()) == data
    assert decode_base64(plain[:40] + "\n" + plain[40:]) == data


def _tiny_model_dir(path: Path) -> Path:
    """A small untrained network saved as the project logs models (keras flavour + this pyfunc flavour)."""
    import keras

    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    mlflow.keras.save_model(network, str(path))
    use_checked_pyfunc(str(path), np.random.default_rng(0).random((2, 28, 28, 1), np.float32))
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model_dir(tmp_path_factory.mktemp("served") / "model")


def _mixed_rows() -> list[dict]:
    """An image file row and a pixels row, as a ``dataframe_records`` request sends them (no explicit nulls)."""
    ink = np.zeros((28, 28), np.uint8)
    cv2.line(ink, (14, 4), (14, 24), 255, 3)
    return [{"image": _png(ink)}, {"pixels": np.random.default_rng(1).random((28, 28)).round(4).tolist()}]


def test_records_mixing_image_and_pixels_rows_are_scored_row_by_row(model_dir: Path) -> None:
    """``pd.DataFrame(records)`` fills each row's missing column with NaN, which MLflow's Array check refused."""
    model = mlflow.pyfunc.load_model(str(model_dir))
    rows = _mixed_rows()
    for records in (rows, rows[::-1]):
        mixed = pd.DataFrame(records)
        assert mixed.isna().sum().sum() == 2  # the cells a records request leaves out
        answers = model.predict(mixed)
        alone = pd.concat([model.predict(pd.DataFrame([record])) for record in records], ignore_index=True)
        assert answers["digit"].tolist() == alone["digit"].tolist()
        np.testing.assert_allclose(np.stack(answers["probabilities"]), np.stack(alone["probabilities"]), atol=1e-6)


def test_the_served_parsing_of_mixed_records_reaches_the_model(model_dir: Path) -> None:
    """The server's own parsing of ``dataframe_records`` (before ``predict``) keeps both kinds of rows."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    model = mlflow.pyfunc.load_model(str(model_dir))
    parsed = infer_and_parse_data({"dataframe_records": _mixed_rows()}, model.metadata.get_input_schema())
    assert len(model.predict(parsed)) == 2


def test_a_model_logged_with_the_earlier_signature_loads_and_set_signature_upgrades_it(model_dir: Path, tmp_path: Path) -> None:
    path = Path(shutil.copytree(model_dir, tmp_path / "model"))
    meta = Model.load(str(path / "MLmodel"))
    meta.signature = ModelSignature(  # as models were logged before pixels became AnyType
        inputs=Schema([ColSpec("string", "image", required=False), ColSpec(Array(Array("double")), "pixels", required=False)]),
        outputs=SIGNATURE.outputs,
    )
    meta.save(str(path / "MLmodel"))
    earlier = mlflow.pyfunc.load_model(str(path))
    assert len(earlier.predict(pd.DataFrame([_mixed_rows()[1]]))) == 1  # one kind per request still works
    mlflow.models.set_signature(str(path), SIGNATURE)  # the upgrade the README gives
    assert len(mlflow.pyfunc.load_model(str(path)).predict(pd.DataFrame(_mixed_rows()))) == 2
