"""The logged model served by MLflow's own scoring server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pytest

from digit_experiments.dataset.standardise import standardise_images

from helpers import post, run_cli, served_model
from test_evaluate_predict import mnist_test_images

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(smoke_run):
    """``mlflow models serve`` of the smoke model's ``runs:/<id>/model``, up and answering /ping."""
    with served_model(f"runs:/{smoke_run.run_id}/model", smoke_run.store, smoke_run.workdir) as url:
        yield url, smoke_run.workdir, smoke_run.run_id


def _records(column: str, values: list) -> bytes:
    return json.dumps({"dataframe_records": [{column: value} for value in values]}).encode()


def _pixels_payload(images: np.ndarray) -> bytes:
    """``images`` (n, 28, 28) in [0, 1] as one ``pixels`` row each."""
    return _records("pixels", np.round(images, 4).tolist())


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


_STROKE = cv2.line(np.zeros((28, 28), np.uint8), (14, 4), (14, 23), 255, 3)
_STROKE_PNG = base64.b64encode(cv2.imencode(".png", _STROKE)[1].tobytes()).decode()
_BLANK_PNG = base64.b64encode(cv2.imencode(".png", np.full((28, 28), 255, np.uint8))[1].tobytes()).decode()


def _mixed(*rows: dict) -> bytes:
    """``rows`` as one ``dataframe_records`` request, each with only its own columns (no explicit nulls)."""
    return json.dumps({"dataframe_records": list(rows)}).encode()


def _predict_json(run_id: str, inputs: Path, workdir: Path) -> list[dict]:
    result = run_cli("digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={inputs}", "format=json"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_served_model_answers_pixels_like_predict(server, data_dir: Path, tmp_path: Path) -> None:
    url, workdir, run_id = server
    raw, _ = mnist_test_images(data_dir, 5)
    for i, image in enumerate(raw):
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
    standardised = standardise_images(list(raw))  # what predict feeds the model
    status, body = post(f"{url}/invocations", _pixels_payload(standardised / 255.0))
    assert status == 200, body
    answers = json.loads(body)["predictions"]
    assert [sorted(answer) for answer in answers] == [["digit", "probabilities", "probability"]] * 5
    served = np.array([answer["probabilities"] for answer in answers])
    predicted = _predict_json(run_id, tmp_path, workdir)
    np.testing.assert_allclose(served, [row["probabilities"] for row in predicted], atol=1e-4)
    assert [answer["digit"] for answer in answers] == [row["digit"] for row in predicted]


def test_a_photo_sized_jpeg_of_dark_ink_on_light_paper_is_standardised_on_the_server(server, data_dir: Path, tmp_path: Path) -> None:
    """The issue's case: a 300×300 JPEG, dark digit on light paper, sent as base64 in column ``image``."""
    url, workdir, run_id = server
    raw, _ = mnist_test_images(data_dir, 3)
    files = []
    for i, image in enumerate(raw):
        paper = 255 - cv2.resize(image, (300, 300), interpolation=cv2.INTER_CUBIC)  # dark ink on white, 300 px
        files.append(tmp_path / f"{i}.jpg")
        cv2.imwrite(str(files[-1]), cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    status, body = post(f"{url}/invocations", _records("image", [_base64(path) for path in files]))
    assert status == 200, body
    answers = json.loads(body)["predictions"]
    predicted = _predict_json(run_id, tmp_path, workdir)
    np.testing.assert_allclose([a["probabilities"] for a in answers], [row["probabilities"] for row in predicted], atol=1e-4)
    for answer in answers:
        assert answer["probability"] == pytest.approx(max(answer["probabilities"]))
        assert answer["digit"] == int(np.argmax(answer["probabilities"]))


def test_the_models_own_input_example_is_served(server, tmp_path: Path) -> None:
    """The logged ``serving_input_example.json`` (both forms: an image file and pixels) is a valid request."""
    url, workdir, run_id = server
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    example = Path(client.download_artifacts(run_id, "model/serving_input_example.json", str(tmp_path))).read_bytes()
    assert {"image", "pixels"} <= set(json.loads(example)["dataframe_split"]["columns"])
    status, body = post(f"{url}/invocations", example)
    assert status == 200 and len(json.loads(body)["predictions"]) == 2, body[:300]


def test_image_and_pixels_rows_share_a_records_request(server, data_dir: Path, tmp_path: Path) -> None:
    """``dataframe_records`` rows of both kinds, no explicit nulls: each scored as if sent alone."""
    url, _, _ = server
    raw, _ = mnist_test_images(data_dir, 2)
    cv2.imwrite(str(tmp_path / "0.png"), raw[0])
    rows = [{"image": _base64(tmp_path / "0.png")}, {"pixels": np.round(standardise_images([raw[1]])[0] / 255.0, 4).tolist()}]
    for order in (rows, rows[::-1]):
        status, body = post(f"{url}/invocations", _mixed(*order))
        assert status == 200, body[:500]
        alone = [json.loads(post(f"{url}/invocations", _mixed(row))[1])["predictions"][0] for row in order]
        answers = json.loads(body)["predictions"]
        assert [a["digit"] for a in answers] == [a["digit"] for a in alone]
        np.testing.assert_allclose([a["probabilities"] for a in answers], [a["probabilities"] for a in alone], atol=1e-5)


@pytest.mark.parametrize(("body", "message"), [
    (_records("image", ["not base64 at all!"]), "not valid base64"),
    pytest.param(_mixed({"pixels": np.zeros((28, 28)).tolist()}, {"image": "%%%"}), 'Row 1: the "image" is not valid base64',
                 id="mixed-bad-base64"),
    pytest.param(_mixed({"image": _STROKE_PNG}, {"pixels": np.zeros((28, 27)).tolist()}), 'Row 1: "pixels" has shape (28, 27)',
                 id="mixed-bad-pixel-shape"),
    pytest.param(_mixed({"pixels": np.zeros((28, 28)).tolist()}, {}), "Row 1 has neither", id="mixed-empty-row"),
    pytest.param(_mixed({"pixels": np.zeros((28, 28)).tolist(), "image": _STROKE_PNG}), "Row 0 has both", id="row-with-both"),
    (_records("image", [base64.b64encode(b"%PDF-1.4 a document, not an image").decode()]), "not an image OpenCV can decode"),
    (_records("image", [""]), "the file is empty"),
    (json.dumps({"dataframe_records": [{"pixels": None, "image": None}]}).encode(), 'neither an "image" nor "pixels"'),
    pytest.param(_mixed({"image": _STROKE_PNG}, {"image": _BLANK_PNG}), 'Row 1: the "image" cannot be used: it holds no digit',
                 id="blank-file"),
    pytest.param(_mixed({"pixels": (_STROKE / 255).tolist()}, {"pixels": np.zeros((28, 28)).tolist()}),
                 "Image 1 (and 0 more) is blank (every pixel 0)", id="blank-pixels"),
    (json.dumps({"inputs": "a string"}).encode(), ""),
    (json.dumps({"inputs": [[1.0, 2.0, 3.0]]}).encode(), ""),
    (json.dumps({"images": []}).encode(), ""),
])
def test_malformed_payload_is_a_400_with_a_message(server, body: bytes, message: str) -> None:
    url, _, _ = server
    status, text = post(f"{url}/invocations", body)
    assert status == 400, text
    assert message in json.loads(text)["message"] and json.loads(text)["message"]


@pytest.mark.parametrize(("name", "pixels", "message"), [
    ("a NaN", np.nan, "not finite numbers in [0, 1]"),
    ("an infinity", np.inf, "not finite numbers in [0, 1]"),
    ("a float64 beyond float32", 1e300, "not finite numbers in [0, 1]"),
    ("unscaled pixels", 255.0, "Send pixels divided by 255"),
])
def test_pixels_the_model_was_not_trained_on_are_a_400(server, name: str, pixels: float, message: str) -> None:
    url, _, _ = server
    images = np.zeros((3, 28, 28)).tolist()
    images[1][14][14] = pixels
    body = json.dumps({"dataframe_records": [{"pixels": image} for image in images]}, allow_nan=True).encode()
    status, text = post(f"{url}/invocations", body)
    assert status == 400, f"{name}: {status} {text[:300]}"
    assert message in json.loads(text)["message"]


def test_a_wrong_dtype_is_a_400_or_served(server) -> None:
    url, _, _ = server
    status, text = post(f"{url}/invocations", _records("pixels", np.full((1, 28, 28), "ink").tolist()))
    assert status == 400 and json.loads(text)["message"], text[:300]
    status, text = post(f"{url}/invocations", _records("pixels", [(_STROKE // 255).astype(int).tolist()] * 2))
    assert status == 200 and len(json.loads(text)["predictions"]) == 2, text[:300]


def test_ten_thousand_images_in_one_request_are_a_400_naming_the_limit(server, data_dir: Path) -> None:
    url, _, _ = server
    raw, _ = mnist_test_images(data_dir, 10_000)
    status, text = post(f"{url}/invocations", _pixels_payload(raw / 255.0))
    assert status == 400, f"{status} {text[:300]}"
    assert "10,000 images, over this server's limit of 1,024" in json.loads(text)["message"]
