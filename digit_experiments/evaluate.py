"""Entry point: ``python -m digit_experiments.evaluate model_uri=... [dataset=...] [log=true]``.

Scores a trained model, or an ensemble (a list of models, probabilities
averaged), on the test split of every source of a dataset config and prints a
table: source, n, accuracy, loss, macro-F1. With ``log=true`` the table,
per-source metrics and confusion matrices go into a new MLflow run tagged
``evaluated_run_id`` with the training run(s) of the model(s). User mistakes
(a bad model URI, missing data) are one paragraph on stderr and exit status 2.

A thin Hydra wrapper: the work is in :mod:`digit_experiments.inference`,
imported only when the command runs, so ``--help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import hydra
from omegaconf import DictConfig

from digit_experiments.core import startup

log = logging.getLogger("digit_experiments")
startup.quiet_libraries()


def evaluate(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Load the model(s) and the dataset, score every test set, print (and optionally log) the table.

    Args:
        config: The resolved ``conf/evaluate.yaml`` as a plain dict.

    Returns:
        The table's rows (see :func:`digit_experiments.inference.evaluation.score_rows`).
    """
    from digit_experiments import tracking
    from digit_experiments.core.paths import resolve
    from digit_experiments.dataset import load_dataset
    from digit_experiments.inference.evaluation import format_table, log_evaluation, score_rows
    from digit_experiments.inference.suites import run_suite
    from digit_experiments.inference.loading import load_ensemble
    from digit_experiments.inference.scoring import score_sets

    tracking.connect(config["tracking"])
    ensemble = load_ensemble(config["model_uri"], config["top"])
    splits = load_dataset(data_dir=resolve(config["paths"]["data_dir"]), seed=config["seed"], **config["dataset"])
    scores = score_sets(ensemble, splits.tests, config["batch_size"], config["tta"])
    rows = score_rows(scores)
    print(format_table(rows), flush=True)
    extras = None
    if config["suite"] is not None:
        extras = run_suite(config["suite"], ensemble, splits.tests, config["batch_size"], config["seed"], config["tta"])
        print("\n" + extras.texts["evaluation/robustness.md"], flush=True)
    if config["log"]:
        run_id = log_evaluation(config["tracking"], ensemble, scores, rows, config["model_uri"], extras, config["tta"])
        log.info("Logged the evaluation as MLflow run %s in %s", run_id, tracking.tracking_uri(config["tracking"]["uri"]))
    return rows


@hydra.main(version_base="1.3", config_path=startup.CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate as configured; a user mistake exits with status 2 and one paragraph."""
    startup.run_command(evaluate, cfg)


if __name__ == "__main__":
    main()
