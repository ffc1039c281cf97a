"""How much a test set says: an accuracy's interval, and two models compared digit by digit, against figures computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digit_experiments.inference import scoring
from digit_experiments.inference.comparison import comparison_extras, comparison_rows, mcnemar_p_value
from digit_experiments.inference.scoring import Scores


def scores_with(correct: int, total: int, first_right: int = 0) -> Scores:
    """A score with ``correct`` of ``total`` digits right, from digit ``first_right`` on (the rest read as the next digit)."""
    labels = np.arange(total) % 10
    right = (np.arange(total) - first_right) % total < correct
    predicted = np.where(right, labels, (labels + 1) % 10)
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


def test_mcnemar_is_the_exact_binomial_split_of_the_disagreements() -> None:
    assert mcnemar_p_value(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 2**12)  # 2 P(X <= 2), X ~ Bin(12, 1/2)
    assert mcnemar_p_value(2, 10) == mcnemar_p_value(10, 2)
    assert mcnemar_p_value(5, 5) == 1.0 and mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(9, 0) == pytest.approx(2 / 2**9)


def test_a_comparison_counts_the_digits_only_one_model_reads_right() -> None:
    # The model reads digits 0-89 of 100 right, the baseline 10-94: 10 are the model's alone, 5 the baseline's.
    model = {"mnist": scores_with(90, 100)}
    baseline = {"mnist": scores_with(85, 100, first_right=10)}
    (row,) = comparison_rows(model, baseline)
    assert row == {
        "source": "mnist", "n": 100, "accuracy": 0.9, "baseline_accuracy": 0.85,
        "only_model_right": 10, "only_baseline_right": 5, "p_value": pytest.approx(mcnemar_p_value(10, 5)),
    }
    assert row["accuracy"] - row["baseline_accuracy"] == pytest.approx((10 - 5) / 100)
    extras = comparison_extras([row], ["runs:/abc/model"])
    assert extras.metrics == {"baseline_mnist_accuracy": 0.85, "comparison_mnist_p_value": row["p_value"]}
    assert extras.tags == {"evaluation.baseline_uri": "runs:/abc/model"}
    assert extras.texts["evaluation/comparison.csv"].splitlines()[0] == (
        "source,n,accuracy,baseline_accuracy,only_model_right,only_baseline_right,p_value"
    )
