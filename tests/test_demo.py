"""The demo page (``python -m digit_experiments.demo``): the real command, driven in headless Chromium."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_experiments.dataset.standardise import standardise_images
from digit_experiments.inference.demo_server import page
from digit_experiments.inference.encoded_images import decode_base64, png_base64, standardise_files

from helpers import command_environment, free_port, post, run_cli
from helpers.network import wait_until_answers
from test_evaluate_predict import mnist_test_images

STARTUP_TIMEOUT = 180


def test_the_page_fetches_nothing_from_elsewhere() -> None:
    """The page ships as package data and has no CDN links: the demo machine may have no internet."""
    html = page().decode()
    assert "<canvas" in html and 'id="digit"' in html and 'id="file"' in html
    for external in ('src="http', "src='http", 'href="http', "@import", "//cdn"):
        assert external not in html


@pytest.fixture(scope="module")
def demo(smoke_run):
    """The real command serving the smoke model on a free port, answering ``GET /``; its URL, process and log."""
    port = free_port()
    log_path = smoke_run.workdir / "demo.log"
    command = [sys.executable, "-m", "digit_experiments.demo", f"model_uri=runs:/{smoke_run.run_id}/model", f"port={port}"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=smoke_run.workdir, env=command_environment(MLFLOW_TRACKING_URI=smoke_run.store),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(url, process, log_path, STARTUP_TIMEOUT)  # the port is bound before the model loads
        yield url, process, log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


@pytest.fixture(scope="module")
def model(smoke_run, tmp_path_factory):
    """The same logged model, loaded in this process as ``predict`` loads it (from a downloaded copy)."""
    from digit_experiments.inference.loading import load_ensemble

    folder = smoke_run.client.download_artifacts(smoke_run.run_id, "model", str(tmp_path_factory.mktemp("model")))
    return load_ensemble(folder)


@pytest.fixture
def browser_page(browser, demo):
    """A fresh tab on the demo page; any request to another host than the demo fails the test."""
    url = demo[0]
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    tab = context.new_page()
    elsewhere: list[str] = []

    def only_the_demo(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    tab.route("**/*", only_the_demo)
    tab.goto(url)
    yield tab
    context.close()
    assert not elsewhere, f"the page tried to fetch {elsewhere}"


def _shown(tab) -> tuple[str, np.ndarray, np.ndarray]:
    """The digit on the page, the ten probabilities of its bars, and the 28x28 image it says the model saw."""
    probabilities = [float(tab.get_attribute(f"#bar-{d}", "data-probability")) for d in range(10)]
    seen = decode_base64(tab.get_attribute("#standardised", "src"))
    return tab.text_content("#digit"), np.array(probabilities), cv2.imdecode(np.frombuffer(seen, np.uint8), cv2.IMREAD_GRAYSCALE)


def _wait_for_answers(tab, count: int) -> None:
    """Wait for the page's ``count``-th final answer (to a pointer up or a file) to be on screen."""
    tab.wait_for_function(f"window.demoStats.finalAnswers >= {count}", timeout=60_000)


@pytest.mark.e2e
def test_a_stroke_drawn_with_the_mouse_is_a_1_scored_like_predict(browser_page, model) -> None:
    tab = browser_page
    box = tab.locator("#pad").bounding_box()
    x = box["x"] + box["width"] / 2
    tab.mouse.move(x, box["y"] + 0.15 * box["height"])
    tab.mouse.down()
    tab.mouse.move(x + 3, box["y"] + 0.85 * box["height"], steps=12)
    tab.mouse.up()
    _wait_for_answers(tab, 1)

    digit, probabilities, seen = _shown(tab)
    drawing = decode_base64(tab.evaluate("document.getElementById('pad').toDataURL('image/png')"))
    standardised = standardise_files([drawing])
    expected = model.probabilities(standardised)[0]
    assert digit == "1", f"the page shows {digit!r}; probabilities {np.round(probabilities, 3)}"
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
    np.testing.assert_array_equal(seen, standardised[0])
    assert tab.get_attribute("#bar-1", "class") == "top" and tab.is_hidden("#error")

    tab.click("#clear")
    assert tab.text_content("#digit") == "" and tab.get_attribute("#bar-1", "data-probability") == ""


@pytest.mark.e2e
def test_a_photo_of_dark_ink_on_paper_chosen_as_a_file_is_scored(browser_page, model, data_dir: Path, tmp_path: Path) -> None:
    """The issue's other way in: a 300x300 JPEG, dark digit on light paper, through the file input."""
    raw, _ = mnist_test_images(data_dir, 1)
    paper = 255 - cv2.resize(raw[0], (300, 300), interpolation=cv2.INTER_CUBIC)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])

    browser_page.set_input_files("#file", str(photo))
    _wait_for_answers(browser_page, 1)

    digit, probabilities, seen = _shown(browser_page)
    standardised = standardise_files([photo.read_bytes()])
    np.testing.assert_allclose(probabilities, model.probabilities(standardised)[0], atol=1e-4)
    np.testing.assert_array_equal(seen, standardised[0])
    assert seen[0].max() == 0 and seen.max() == 255, "the ink is light on black, as in training"
    original = model.probabilities(standardise_images([raw[0]]))[0]
    assert digit == str(int(np.argmax(original))), "the photo scores as the original MNIST image does"
    assert browser_page.text_content("#source") == "File: photo.jpg"


@pytest.mark.e2e
def test_a_file_that_is_not_an_image_shows_the_reason_on_the_page(browser_page, tmp_path: Path) -> None:
    document = tmp_path / "scan.png"
    document.write_bytes(b"%PDF-1.4 a document, not an image")
    browser_page.set_input_files("#file", str(document))
    browser_page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    assert "not an image OpenCV can decode" in browser_page.text_content("#error")
    assert browser_page.text_content("#digit") == ""


def _post(url: str, body: bytes) -> tuple[int, dict]:
    status, text = post(f"{url}/api/predict", body)
    return status, json.loads(text)


@pytest.mark.e2e
@pytest.mark.parametrize(("body", "message"), [
    (json.dumps({"image": "not base64 at all!"}).encode(), "not valid base64"),
    (json.dumps({"image": base64.b64encode(b"%PDF-1.4 a document").decode()}).encode(), "not an image OpenCV can decode"),
    (json.dumps({"image": ""}).encode(), "the file is empty"),
    (json.dumps({"image": png_base64(np.full((280, 280), 255, np.uint8))}).encode(), "it holds no digit: no ink found"),
    (json.dumps({"image": 7}).encode(), "not a base64 string (got int)"),
    (b"{not json", 'Send a JSON object {"image"'),
    (json.dumps({"picture": "abc"}).encode(), 'Send a JSON object {"image"'),
], ids=["bad-base64", "not-an-image", "empty", "empty-canvas", "a-number", "not-json", "no-image-key"])
def test_what_cannot_be_scored_is_a_400_with_the_reason(demo, body: bytes, message: str) -> None:
    status, answer = _post(demo[0], body)
    assert status == 400 and message in answer["error"], answer


@pytest.mark.e2e
def test_a_get_of_the_api_is_a_405_saying_it_takes_post(demo) -> None:
    """It was a 404 "Nothing at /api/predict", as if the API did not exist."""
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{demo[0]}/api/predict", timeout=30)
    assert answer.value.code == 405 and answer.value.headers["Allow"] == "POST"
    assert "takes POST" in json.loads(answer.value.read())["error"]


@pytest.mark.e2e
def test_a_request_over_the_size_limit_is_a_400_naming_the_limit(demo) -> None:
    """The refused body is read and dropped first: a client still sending it gets the 400, not a broken pipe."""
    from digit_experiments.inference.demo_server import MAX_REQUEST_BYTES

    status, answer = _post(demo[0], b"x" * (MAX_REQUEST_BYTES + 1))
    assert status == 400 and "over this demo's limit of 16 MB" in answer["error"], answer


@pytest.mark.e2e
def test_the_api_answers_a_png_sent_as_plain_base64(demo, model, data_dir: Path) -> None:
    raw, _ = mnist_test_images(data_dir, 1)
    png = cv2.imencode(".png", raw[0])[1].tobytes()
    status, answer = _post(demo[0], json.dumps({"image": base64.b64encode(png).decode()}).encode())
    assert status == 200, answer
    expected = model.probabilities(standardise_files([png]))[0]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-4)
    assert answer["digit"] == int(np.argmax(expected)) and answer["probability"] == max(answer["probabilities"])
    assert answer["standardised"].startswith("data:image/png;base64,") and answer["milliseconds"] > 0


@pytest.mark.e2e
def test_concurrent_requests_each_get_their_own_answer(demo, model, data_dir: Path) -> None:
    """Eight posts at once (the page throttles, but several tabs do not): each answer is its own image's."""
    from concurrent.futures import ThreadPoolExecutor

    raw, _ = mnist_test_images(data_dir, 8)
    files = [cv2.imencode(".png", image)[1].tobytes() for image in raw]
    bodies = [json.dumps({"image": base64.b64encode(png).decode()}).encode() for png in files]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: _post(demo[0], body), bodies))
    assert [status for status, _ in answers] == [200] * len(bodies), answers
    np.testing.assert_allclose([a["probabilities"] for _, a in answers], model.probabilities(standardise_files(files)), atol=1e-4)


@pytest.mark.e2e
def test_a_port_in_use_is_one_paragraph_and_status_2(smoke_run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("digit_experiments.demo", [f"model_uri=runs:/{smoke_run.run_id}/model", f"port={port}"],
                         cwd=smoke_run.workdir, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"Port {port} on 127.0.0.1 is already in use" in error and "`port=0`" in error


@pytest.mark.e2e
def test_ctrl_c_stops_the_demo_with_status_0(demo) -> None:
    """Runs last in this module: it stops the shared demo."""
    url, process, log_path = demo
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0, log_path.read_text()[-3000:]
    log = log_path.read_text()
    assert f"Demo page on {url} — Ctrl+C to stop" in log and "Stopped." in log and "Traceback" not in log
