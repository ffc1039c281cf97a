"""Score a model on labelled images: per-source and combined accuracy and loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from digit_experiments.inference.tta import tta_views
from digit_experiments.training.pipeline import evaluation_dataset


@dataclass
class Scores:
    """A model's predictions on one labelled set, and what follows from them.

    Attributes:
        images: The ``(N, 28, 28)`` uint8 images.
        labels: The true digits.
        probabilities: ``(N, 10)`` predicted probabilities.
    """

    images: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        """The most probable digit of each image."""
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        """Share of images whose most probable digit is the true one."""
        return float((self.predictions == self.labels).mean())

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """The 95 % Wilson score interval of the accuracy, as ``(low, high)``.

        A test set is a sample of the writers a model will meet: on MNIST's
        10,000 digits, 99.76 % spans about 99.64–99.84 %, so two models a few
        images apart are not told apart by it. Wilson's interval (scipy's
        ``binomtest``) keeps its coverage for accuracies near 100 %, where the
        normal approximation's collapses.
        """
        correct = int((self.predictions == self.labels).sum())
        interval = binomtest(correct, len(self.labels)).proportion_ci(confidence_level=0.95, method="wilson")
        return float(interval.low), float(interval.high)

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the true digits (without the L2 penalty)."""
        picked = self.probabilities[np.arange(len(self.labels)), self.labels]
        return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def predict_probabilities(
    model, images: np.ndarray, batch_size: int, verbose: int | str = 0, tta: bool = False
) -> np.ndarray:
    """``model``'s class probabilities for uint8 images, through the evaluation pipeline.

    Args:
        model: A Keras model, or anything with its ``predict(dataset, verbose)``.
        images: ``(n, 28, 28)`` uint8 standardised images.
        batch_size: Images per model call.
        verbose: Keras's progress output.
        tta: Average over the fixed views of :data:`~digit_experiments.inference.tta.TTA_TRANSFORMS`
            instead of scoring the images as they are.

    Returns:
        ``(n, 10)`` float32 probabilities.
    """
    outputs = []
    for view in tta_views(images) if tta else [images]:
        dataset = evaluation_dataset(view, np.zeros(len(view), np.int64), batch_size).map(_images_only)
        outputs.append(np.asarray(model.predict(dataset, verbose=verbose), dtype=np.float32))
    return np.mean(outputs, axis=0)


def _images_only(images, _labels):
    """The images of an ``(images, labels)`` batch (a named function: AutoGraph warns that it cannot read a lambda's source)."""
    return images


def score_sets(
    model, tests: dict[str, tuple[np.ndarray, np.ndarray]], batch_size: int, tta: bool = False
) -> dict[str, Scores]:
    """Score ``model`` on each named test set, plus ``"all"`` (their union) when there are several.

    Args:
        model: A Keras model or an ensemble.
        tests: ``{set name: (uint8 images, labels)}``.
        batch_size: Images per model call.
        tta: Average each image's probabilities over the test-time augmentation views.

    Returns:
        ``{set name: Scores}``.
    """
    scores = {
        name: Scores(images, labels, predict_probabilities(model, images, batch_size, tta=tta))
        for name, (images, labels) in tests.items()
    }
    if len(scores) > 1:
        parts = list(scores.values())
        scores["all"] = Scores(
            np.concatenate([s.images for s in parts]),
            np.concatenate([s.labels for s in parts]),
            np.concatenate([s.probabilities for s in parts]),
        )
    return scores


def test_metrics(scores: dict[str, Scores]) -> dict[str, float]:
    """MLflow metric names for the scores.

    ``test_accuracy``/``test_loss`` are the combined figures (the only set when
    there is one source); each source also gets ``test_<source>_accuracy`` and
    ``test_<source>_loss``. Every accuracy comes with the bounds of its 95 %
    interval, ``<accuracy metric>_ci95_low`` and ``..._ci95_high``.
    """
    combined = scores.get("all") or next(iter(scores.values()))
    metrics = _score_metrics("test", combined)
    for name, score in scores.items():
        if name != "all":
            metrics.update(_score_metrics(f"test_{name}", score))
    return metrics


def _score_metrics(prefix: str, score: Scores) -> dict[str, float]:
    """``<prefix>_accuracy``, its interval's ``_ci95_low``/``_ci95_high``, and ``<prefix>_loss``."""
    low, high = score.accuracy_interval
    return {
        f"{prefix}_accuracy": score.accuracy,
        f"{prefix}_accuracy_ci95_low": low,
        f"{prefix}_accuracy_ci95_high": high,
        f"{prefix}_loss": score.loss,
    }
