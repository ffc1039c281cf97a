"""An evaluation's results: one row per test set, as a table, a CSV and an MLflow run.

The ``evaluate`` command scores a model with
:func:`~digit_experiments.inference.scoring.score_sets`; this module turns
those scores into the rows it prints (source, n, accuracy with its 95 %
interval, loss, macro-F1)
and, on request, logs them as a new MLflow run linked to the training run(s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import mlflow
from sklearn.metrics import f1_score

from digit_experiments import plots, tracking
from digit_experiments.core.tables import csv_text
from digit_experiments.inference.loading import as_references, sweep_parent_id
from digit_experiments.inference.scoring import Scores, test_metrics

COLUMNS = ("source", "n", "accuracy", "ci95_low", "ci95_high", "loss", "macro_f1")


@dataclass
class Extras:
    """What a suite or a comparison adds to the evaluation's MLflow run."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    figures: Mapping[str, Any] = field(default_factory=dict)


def score_rows(scores: Mapping[str, Scores]) -> list[dict[str, Any]]:
    """One row per test set of :func:`digit_experiments.inference.scoring.score_sets`.

    Args:
        scores: ``{set name: Scores}``.

    Returns:
        Dicts with the keys of :data:`COLUMNS` (``ci95_low``/``ci95_high``: the
        accuracy's 95 % Wilson interval).
    """
    return [_score_row(name, score) for name, score in scores.items()]


def _score_row(name: str, score: Scores) -> dict[str, Any]:
    """The row of one test set (the interval computed once for both its bounds)."""
    low, high = score.accuracy_interval
    return {
        "source": name,
        "n": len(score.labels),
        "accuracy": score.accuracy,
        "ci95_low": low,
        "ci95_high": high,
        "loss": score.loss,
        "macro_f1": float(f1_score(score.labels, score.predictions, average="macro")),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned plain-text table (source left, figures right, 4 decimals)."""
    cells = [list(COLUMNS)] + [[r["source"], str(r["n"])] + [f"{r[key]:.4f}" for key in COLUMNS[2:]] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in cells
    )


def log_evaluation(
    tracking_settings: Mapping[str, Any],
    ensemble: Any,
    scores: Mapping[str, Scores],
    rows: list[dict[str, Any]],
    ensemble_reference: str | Sequence[str] = (),
    extras: Sequence[Extras] = (),
    tta: bool = False,
) -> str:
    """Log an evaluation as a new MLflow run tagged ``evaluated_run_id`` with the training run(s).

    The run holds ``test_<source>_accuracy|loss|macro_f1`` (and the combined
    ``test_accuracy``/``test_loss``; each accuracy with ``_ci95_low``/``_ci95_high``), ``evaluation/scores.csv``,
    ``evaluation/scores.txt`` and ``plots/confusion_matrix_<source>.png``.

    Args:
        tracking_settings: The ``tracking`` config (experiment, run name, ...);
            the run is named ``evaluate`` unless it sets ``run_name``.
        ensemble: The :class:`~digit_experiments.inference.loading.Ensemble` evaluated.
        scores: ``{set name: Scores}``.
        rows: :func:`score_rows` of ``scores``.
        ensemble_reference: ``evaluate``'s ``model_uri``; for each ``sweep:<parent run id>``
            in it, the test metrics also go on that parent run, prefixed ``ensemble_``.
        extras: More metrics, tags, text artifacts and figures for the same run (a suite's
            results, a comparison with a baseline).
        tta: Whether the scores averaged test-time augmentation views (tag ``evaluation.tta``).

    Returns:
        The new run's id.
    """
    uris = [member.uri for member in ensemble.members]
    tags = {
        "evaluation.model_uri": ",".join(uris)[:5000],
        "evaluation.sources": ",".join(name for name in scores if name != "all"),
        "evaluation.tta": str(tta).lower(),
    }
    if ensemble.run_ids:  # none for files from outside a run (an export)
        tags["evaluated_run_id"] = ",".join(ensemble.run_ids)
    settings = {**tracking_settings, "run_name": tracking_settings.get("run_name") or "evaluate"}
    with tracking.tracked_run(settings, tags=tags) as run:
        metrics = test_metrics(scores)
        metrics.update({f"test_{r['source']}_macro_f1": r["macro_f1"] for r in rows})
        mlflow.log_metrics(metrics)
        mlflow.log_text(csv_text(rows, COLUMNS), "evaluation/scores.csv")
        mlflow.log_text(format_table(rows) + "\n", "evaluation/scores.txt")
        for name, score in scores.items():
            figure = plots.confusion_matrix(score.labels, score.predictions, f"Test set: {name}")
            tracking.log_figure(figure, f"plots/confusion_matrix_{name}.png")
        for extra in extras:
            mlflow.log_metrics(dict(extra.metrics))
            mlflow.set_tags(dict(extra.tags))
            for artifact_file, text in extra.texts.items():
                mlflow.log_text(text, artifact_file)
            for artifact_file, figure in extra.figures.items():
                tracking.log_figure(figure, artifact_file)
    for parent_id in filter(None, map(sweep_parent_id, as_references(ensemble_reference))):
        log_on_sweep_parent(parent_id, metrics, run.info.run_id, len(uris))
    return run.info.run_id


def log_on_sweep_parent(parent_id: str, metrics: Mapping[str, float], evaluation_run_id: str, members: int) -> None:
    """Put an ensemble's test results on the sweep's parent run too, where the sweep's report is.

    Metrics are prefixed ``ensemble_`` (``ensemble_test_accuracy``, ...); the tag
    ``ensemble.evaluation_run_id`` links to the evaluation run with the full table.
    """
    client = mlflow.MlflowClient()
    client.log_batch(
        parent_id,
        metrics=[mlflow.entities.Metric(f"ensemble_{key}", float(value), int(time.time() * 1000), 0) for key, value in metrics.items()]
        + [mlflow.entities.Metric("ensemble_members", float(members), int(time.time() * 1000), 0)],
        tags=[mlflow.entities.RunTag("ensemble.evaluation_run_id", evaluation_run_id)],
    )
