"""The robustness suite: a model's accuracy on corrupted copies of each test set.

``python -m digit_experiments.evaluate model_uri=... suite=robustness`` scores
the clean test sets, then every corruption of
:mod:`digit_experiments.inference.corruptions` applied to each of them (same
seed, same corrupted images on every run), and reports one row per
corruption and source: accuracy, error, and the error added by the
corruption. The summary is the mean corruption error (mCE): the mean error
over all corruptions, per source, as MNIST-C reports it.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from digit_experiments import plots
from digit_experiments.inference.corruptions import CORRUPTIONS, corrupt
from digit_experiments.inference.scoring import score_sets

log = logging.getLogger(__name__)

COLUMNS = ("corruption", "source", "n", "accuracy", "error", "added_error")
CLEAN = "clean"
MEAN = "mean (mCE)"
#: Example images per corruption in the grid plot.
EXAMPLES = 10


def robustness_rows(
    model: Any, tests: Mapping[str, tuple[np.ndarray, np.ndarray]], batch_size: int, seed: int, tta: bool = False
) -> list[dict[str, Any]]:
    """Score ``model`` (a Keras model or an ensemble) clean and under every corruption, per source.

    Args:
        model: A Keras model or an ensemble.
        tests: ``{source: (uint8 images, labels)}``.
        batch_size: Images per model call.
        seed: Seed of the corruptions.
        tta: Score every image, clean or corrupted, with test-time augmentation.

    Returns:
        Rows with the keys of :data:`COLUMNS`: first the clean score of each
        source, then each corruption's, then the mean corruption error.
    """
    clean = _accuracies(model, tests, batch_size, tta)
    rows = [_row(CLEAN, source, len(tests[source][1]), accuracy, accuracy) for source, accuracy in clean.items()]
    for number, name in enumerate(CORRUPTIONS.names(), 1):
        corrupted = {source: (corrupt(name, images, seed), labels) for source, (images, labels) in tests.items()}
        for source, accuracy in _accuracies(model, corrupted, batch_size, tta).items():
            rows.append(_row(name, source, len(tests[source][1]), accuracy, clean[source]))
        log.info("Corruption %d/%d (%s) scored", number, len(CORRUPTIONS.names()), name)
    for source in tests:
        corrupted_rows = [r for r in rows if r["source"] == source and r["corruption"] != CLEAN]
        mean_accuracy = float(np.mean([r["accuracy"] for r in corrupted_rows]))
        rows.append(_row(MEAN, source, len(tests[source][1]), mean_accuracy, clean[source]))
    return rows


def mean_corruption_errors(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``{source: mean corruption error}`` from :func:`robustness_rows`."""
    return {row["source"]: row["error"] for row in rows if row["corruption"] == MEAN}


def examples_figure(images: np.ndarray, seed: int):
    """A grid with one row per corruption (and the clean images first) of the same ``EXAMPLES`` digits."""
    images = images[:EXAMPLES]
    rows = {CLEAN: (images, np.arange(len(images)))}
    rows.update({name: (corrupt(name, images, seed), np.arange(len(images))) for name in CORRUPTIONS.names()})
    return plots.source_samples(rows, per_source=len(images), title="Corruptions of the robustness suite")


def _accuracies(model: Any, tests: Mapping[str, tuple[np.ndarray, np.ndarray]], batch_size: int, tta: bool) -> dict[str, float]:
    return {name: score.accuracy for name, score in score_sets(model, dict(tests), batch_size, tta).items() if name != "all"}


def _row(corruption: str, source: str, n: int, accuracy: float, clean_accuracy: float) -> dict[str, Any]:
    return {
        "corruption": corruption, "source": source, "n": n, "accuracy": accuracy,
        "error": 1.0 - accuracy, "added_error": clean_accuracy - accuracy,
    }
