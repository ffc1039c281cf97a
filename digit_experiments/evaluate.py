"""Entry point: ``python -m digit_experiments.evaluate model_uri=... [dataset=...] [log=true]``.

Scores a trained model, or an ensemble (a list of models, probabilities
averaged), on the test split of every source of a dataset config and prints a
table: source, n, accuracy, loss, macro-F1. With ``log=true`` the table,
per-source metrics and confusion matrices go into a new MLflow run tagged
``evaluated_run_id`` with the training run(s) of the model(s). User mistakes
(a bad model URI, missing data) are one paragraph on stderr and exit status 2.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from typing import Any, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from digit_experiments.core.errors import user_errors_exit  # noqa: E402

log = logging.getLogger("digit_experiments")

COLUMNS = ("source", "n", "accuracy", "loss", "macro_f1")


def score_rows(scores: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per test set of :func:`digit_experiments.inference.scoring.score_sets`.

    Args:
        scores: ``{set name: Scores}``.

    Returns:
        Dicts with the keys of :data:`COLUMNS`.
    """
    from sklearn.metrics import f1_score

    return [
        {
            "source": name,
            "n": len(score.labels),
            "accuracy": score.accuracy,
            "loss": score.loss,
            "macro_f1": float(f1_score(score.labels, score.predictions, average="macro")),
        }
        for name, score in scores.items()
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned plain-text table."""
    cells = [list(COLUMNS)] + [
        [r["source"], str(r["n"]), f"{r['accuracy']:.4f}", f"{r['loss']:.4f}", f"{r['macro_f1']:.4f}"] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in cells
    )


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def evaluate(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Load the model(s) and the dataset, score every test set, print (and optionally log) the table.

    Args:
        config: The resolved ``conf/evaluate.yaml`` as a plain dict.

    Returns:
        The table's rows (see :func:`score_rows`).
    """
    from digit_experiments import tracking
    from digit_experiments.dataset import load_dataset
    from digit_experiments.inference.scoring import score_sets
    from digit_experiments.inference.loading import load_ensemble
    from digit_experiments.core.paths import resolve

    tracking.connect(config["tracking"])
    ensemble = load_ensemble(config["model_uri"], config["top"])
    splits = load_dataset(data_dir=resolve(config["paths"]["data_dir"]), seed=config["seed"], **config["dataset"])
    scores = score_sets(ensemble, splits.tests, config["batch_size"])
    rows = score_rows(scores)
    print(format_table(rows), flush=True)
    if config["log"]:
        run_id = _log_evaluation(config, ensemble, scores, rows)
        log.info("Logged the evaluation as MLflow run %s in %s", run_id, tracking.tracking_uri(config["tracking"]["uri"]))
    return rows


def _log_evaluation(config: Mapping[str, Any], ensemble: Any, scores: Mapping[str, Any], rows: list[dict[str, Any]]) -> str:
    """A new MLflow run with the table, per-source metrics and confusion matrices; return its id."""
    import mlflow

    from digit_experiments import plots, tracking
    from digit_experiments.inference.scoring import test_metrics

    uris = [member.uri for member in ensemble.members]
    tags = {
        "evaluated_run_id": ",".join(ensemble.run_ids),
        "evaluation.model_uri": ",".join(uris)[:5000],
        "evaluation.sources": ",".join(name for name in scores if name != "all"),
    }
    settings = {**config["tracking"], "run_name": config["tracking"].get("run_name") or "evaluate"}
    with tracking.tracked_run(settings, tags=tags) as run:
        metrics = test_metrics(scores)
        metrics.update({f"test_{r['source']}_macro_f1": r["macro_f1"] for r in rows})
        mlflow.log_metrics(metrics)
        mlflow.log_text(as_csv(rows), "evaluation/scores.csv")
        mlflow.log_text(format_table(rows) + "\n", "evaluation/scores.txt")
        for name, score in scores.items():
            figure = plots.confusion_matrix(score.labels, score.predictions, f"Test set: {name}")
            tracking.log_figure(figure, f"plots/confusion_matrix_{name}.png")
        return run.info.run_id


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate as configured; a user mistake exits with status 2 and one paragraph."""
    with user_errors_exit():
        evaluate(OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    main()
