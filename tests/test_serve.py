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
