"""The served model's input checks (the HTTP answers are in tests/test_serve.py)."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from digit_experiments.inference.serving import ServedClassifier


@pytest.mark.parametrize(("data", "message"), [
    ([["a"]], "not an array of numbers"),
    (np.zeros((2, 28, 27, 1)), "has shape (2, 28, 27, 1)"),
    (np.zeros((0, 28, 28, 1)), "holds no image"),
    (np.zeros((5, 28, 28)), "over this server's limit of 4"),
    (np.full((1, 28, 28, 1), np.nan), "not finite numbers in [0, 1]"),
    (np.full((1, 28, 28, 1), -0.5), "not finite numbers in [0, 1]"),
])
def test_inputs_the_network_was_not_trained_on_are_refused_with_the_fix(data, message: str) -> None:
    with pytest.raises(MlflowException) as raised:
        ServedClassifier(model=None, max_images=4).checked(data)
    assert message in raised.value.message and raised.value.get_http_status_code() == 400


def test_grey_images_without_a_channel_axis_are_accepted() -> None:
    checked = ServedClassifier(model=None).checked(np.zeros((2, 28, 28), dtype=np.uint8))
    assert checked.shape == (2, 28, 28, 1) and checked.dtype == np.float32
