"""The accuracy interval of a score, against figures computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digit_experiments.inference import scoring
from digit_experiments.inference.scoring import Scores


def scores_with(correct: int, total: int) -> Scores:
    """A score with ``correct`` of ``total`` digits right (the rest read as the next digit)."""
    labels = np.arange(total) % 10
    predicted = np.where(np.arange(total) < correct, labels, (labels + 1) % 10)
    return Scores(np.zeros((total, 28, 28), np.uint8), labels, np.eye(10, dtype=np.float32)[predicted])


def wilson(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's 95 % score interval, written out from its formula."""
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return centre - half, centre + half


@pytest.mark.parametrize("correct, total", [(9976, 10000), (1974, 2007), (300, 300), (0, 50)])
def test_the_accuracy_interval_is_wilsons(correct: int, total: int) -> None:
    score = scores_with(correct, total)
    low, high = score.accuracy_interval
    assert score.accuracy == pytest.approx(correct / total)
    assert (low, high) == pytest.approx(wilson(correct, total), abs=1e-9)
    assert 0.0 <= low <= score.accuracy <= high <= 1.0


def test_mnist_four_images_apart_overlap() -> None:
    """99.76 % and 99.80 % on MNIST's 10,000 test digits are inside each other's interval."""
    low, high = scores_with(9976, 10000).accuracy_interval
    assert low < 0.9976 < 0.9980 < high
    assert (round(low, 4), round(high, 4)) == (0.9964, 0.9984)


def test_every_logged_accuracy_has_its_interval() -> None:
    metrics = scoring.test_metrics({"mnist": scores_with(90, 100), "usps": scores_with(45, 50), "all": scores_with(135, 150)})
    for prefix in ("test", "test_mnist", "test_usps"):
        assert metrics[f"{prefix}_accuracy_ci95_low"] < metrics[f"{prefix}_accuracy"] < metrics[f"{prefix}_accuracy_ci95_high"]
    assert metrics["test_accuracy"] == pytest.approx(0.9)
    assert metrics["test_usps_accuracy_ci95_high"] - metrics["test_usps_accuracy_ci95_low"] > (
        metrics["test_accuracy_ci95_high"] - metrics["test_accuracy_ci95_low"]
    ), "fewer images, a wider interval"
