"""Two models on the same test digits: which digits each alone reads right, and McNemar's exact test.

``evaluate model_uri=<A> baseline=<B>`` asks whether A beats B. Comparing the
two accuracies' intervals wastes what the test set knows: both models read the
same digits, and most digits both read right (or both wrong) say nothing about
which is better. McNemar's test looks only at the digits where they disagree;
if A and B were equally good, each such digit would be A's with probability
1/2, so its exact form is a binomial test, computed by scipy's ``binomtest``
(no library of this project's stack offers McNemar's test on its own).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import binomtest

from digit_experiments.core.tables import csv_text, markdown_table
from digit_experiments.inference.evaluation import Extras
from digit_experiments.inference.scoring import Scores

COLUMNS = ("source", "n", "accuracy", "baseline_accuracy", "only_model_right", "only_baseline_right", "p_value")
TEXT_FILE = "evaluation/comparison.md"


def mcnemar_p_value(only_model_right: int, only_baseline_right: int) -> float:
    """Two-sided exact McNemar p-value: how likely a split of the disagreements at least this uneven is
    if neither model is better (1.0 when they never disagree)."""
    disagreements = only_model_right + only_baseline_right
    if disagreements == 0:
        return 1.0
    return float(binomtest(only_model_right, disagreements, 0.5).pvalue)


def comparison_rows(scores: Mapping[str, Scores], baseline_scores: Mapping[str, Scores]) -> list[dict[str, Any]]:
    """One row per test set: both accuracies, the digits only one of the two reads right, and the p-value.

    Args:
        scores: ``{set name: Scores}`` of the model.
        baseline_scores: The baseline's, on the same images in the same order.

    Returns:
        Dicts with the keys of :data:`COLUMNS`.
    """
    rows = []
    for name, score in scores.items():
        model_right = score.predictions == score.labels
        baseline = baseline_scores[name]
        baseline_right = baseline.predictions == baseline.labels
        only_model, only_baseline = int(np.sum(model_right & ~baseline_right)), int(np.sum(baseline_right & ~model_right))
        rows.append({
            "source": name,
            "n": len(score.labels),
            "accuracy": score.accuracy,
            "baseline_accuracy": baseline.accuracy,
            "only_model_right": only_model,
            "only_baseline_right": only_baseline,
            "p_value": mcnemar_p_value(only_model, only_baseline),
        })
    return rows


def comparison_extras(rows: list[dict[str, Any]], baseline_uris: Sequence[str]) -> Extras:
    """The comparison as the evaluation run's metrics (``baseline_<source>_accuracy``,
    ``comparison_<source>_p_value``), its tag ``evaluation.baseline_uri`` and its tables
    (Markdown and CSV)."""
    metrics = {}
    for row in rows:
        metrics[f"baseline_{row['source']}_accuracy"] = row["baseline_accuracy"]
        metrics[f"comparison_{row['source']}_p_value"] = row["p_value"]
    return Extras(
        metrics=metrics,
        tags={"evaluation.baseline_uri": ",".join(baseline_uris)[:5000]},
        texts={TEXT_FILE: markdown_table(rows), "evaluation/comparison.csv": csv_text(rows, COLUMNS)},
    )
