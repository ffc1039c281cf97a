"""The served model's input checks (the HTTP answers are in tests/test_serve.py)."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from digit_experiments.dataset.standardise import standardise_images
from digit_experiments.inference.encoded_images import decode_base64
from digit_experiments.inference.serving import ServedClassifier


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
