"""The logged model served by MLflow's own scoring server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_experiments.dataset.standardise import standardise_images

from helpers import command_environment, free_port, run_cli
from test_evaluate_predict import mnist_test_images

pytestmark = pytest.mark.e2e


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def server(smoke_run):
    """``mlflow models serve`` of the smoke model's ``runs:/<id>/model``, up and answering /ping."""
    workdir, run_id = smoke_run.workdir, smoke_run.run_id
    port = free_port()
    env = command_environment(MLFLOW_TRACKING_URI=smoke_run.store)
    log = open(workdir / "serve.log", "w")
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run_id}/model",
               "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "--workers", "1"]
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, (workdir / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not answer /ping within 180 s"
            time.sleep(1)
        yield url, workdir, run_id
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)


def test_served_model_answers_like_predict(server, data_dir: Path, tmp_path: Path) -> None:
    url, workdir, run_id = server
    raw, _ = mnist_test_images(data_dir, 5)
    for i, image in enumerate(raw):
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
    standardised = standardise_images(list(raw))  # what predict feeds the model
    payload = {"inputs": (standardised[..., None] / 255.0).astype(np.float32).tolist()}
    status, body = _post(f"{url}/invocations", json.dumps(payload).encode())
    assert status == 200, body
    served = np.array(json.loads(body)["predictions"])
    assert served.shape == (5, 10)

    result = run_cli("digit_experiments.predict", [f"model_uri=runs:/{run_id}/model", f"inputs={tmp_path}", "format=json"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    predicted = np.array([row["probabilities"] for row in json.loads(result.stdout)])
    np.testing.assert_allclose(served, predicted, atol=1e-5)


@pytest.mark.parametrize("body", [
    b"{not json",
    json.dumps({"inputs": "a string"}).encode(),
    json.dumps({"inputs": [[1.0, 2.0, 3.0]]}).encode(),
    json.dumps({"images": []}).encode(),
])
def test_malformed_payload_is_a_400_with_a_message(server, body: bytes) -> None:
    url, _, _ = server
    status, text = _post(f"{url}/invocations", body)
    assert status == 400, text
    assert json.loads(text)["message"]


def _images_payload(images: np.ndarray) -> bytes:
    return json.dumps({"inputs": np.round(images, 4).tolist()}).encode()


@pytest.mark.parametrize(("name", "pixels", "message"), [
    ("a NaN", np.nan, "not finite numbers in [0, 1]"),
    ("an infinity", np.inf, "not finite numbers in [0, 1]"),
    ("a float64 beyond float32", 1e300, "not finite numbers in [0, 1]"),
    ("unscaled pixels", 255.0, "Send pixels divided by 255"),
])
def test_pixels_the_model_was_not_trained_on_are_a_400(server, name: str, pixels: float, message: str) -> None:
    url, _, _ = server
    images = np.zeros((3, 28, 28, 1))
    images[1, 14, 14, 0] = pixels
    status, text = _post(f"{url}/invocations", _images_payload(images))
    assert status == 400, f"{name}: {status} {text[:300]}"
    assert message in json.loads(text)["message"]


def test_a_wrong_dtype_is_a_400_or_served(server) -> None:
    url, _, _ = server
    text_pixels = json.dumps({"inputs": np.full((1, 28, 28, 1), "ink").tolist()}).encode()
    status, text = _post(f"{url}/invocations", text_pixels)
    assert status == 400 and json.loads(text)["message"], text[:300]
    integer_pixels = json.dumps({"inputs": np.zeros((2, 28, 28, 1), int).tolist()}).encode()
    status, text = _post(f"{url}/invocations", integer_pixels)
    assert status == 200 and np.array(json.loads(text)["predictions"]).shape == (2, 10), text[:300]


def test_ten_thousand_images_in_one_request_are_a_400_naming_the_limit(server, data_dir: Path) -> None:
    url, _, _ = server
    raw, _ = mnist_test_images(data_dir, 10_000)
    status, text = _post(f"{url}/invocations", _images_payload(raw[..., None] / 255.0))
    assert status == 400, f"{status} {text[:300]}"
    assert "10,000 images, over this server's limit of 1,024" in json.loads(text)["message"]
