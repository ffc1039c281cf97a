"""Entry point: ``python -m digit_experiments.evaluate model_uri=... [dataset=...] [log=true]``.

Scores a trained model, or an ensemble (a list of models, probabilities
averaged), on the test split of every source of a dataset config and prints a
table: source, n, accuracy with its 95 % interval, loss, macro-F1. With
``baseline=<reference>`` it also scores a second model on the same images and
prints which digits only one of them reads right, with McNemar's p-value. With
``log=true`` the tables, per-source metrics and confusion matrices go into a new
MLflow run tagged ``evaluated_run_id`` with the training run(s) of the model(s). User mistakes
(a bad model URI, missing data) are one paragraph on stderr and exit status 2.

A thin Hydra wrapper: the work is in :mod:`digit_experiments.inference`,
imported only when the command runs, so ``--help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup

if TYPE_CHECKING:  # TensorFlow-free at import: these modules load only when the command runs
    from digit_experiments.inference.evaluation import Extras
    from digit_experiments.inference.loading import Ensemble
    from digit_experiments.inference.scoring import Scores

log = logging.getLogger("digit_experiments")
startup.quiet_libraries()
startup.register_resolvers()


def evaluate(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Load the model(s) and the dataset, score every test set, print (and optionally log) the table.

    Args:
        config: The resolved ``conf/evaluate.yaml`` as a plain dict.

    Returns:
        The table's rows (see :func:`digit_experiments.inference.evaluation.score_rows`).
    """
    startup.import_tensorflow()
    from digit_experiments import tracking
    from digit_experiments.core.paths import resolve
    from digit_experiments.dataset import load_dataset
    from digit_experiments.inference.evaluation import format_table, log_evaluation, score_rows
    from digit_experiments.inference.suites import check_suite, run_suite
    from digit_experiments.inference.loading import as_references, load_ensemble, reads_tracking_store
    from digit_experiments.inference.scoring import score_sets

    check_suite(config["suite"])
    models = as_references(config["model_uri"]) + as_references(config["baseline"])
    tracking.connect(config["tracking"], used=config["log"] or reads_tracking_store(models))
    ensemble = load_ensemble(config["model_uri"], config["top"])
    baseline = None if config["baseline"] is None else load_ensemble(config["baseline"], config["top"])
    splits = load_dataset(data_dir=resolve(config["paths"]["data_dir"]), seed=config["seed"], **config["dataset"])
    scores = score_sets(ensemble, splits.tests, config["batch_size"], config["tta"])
    rows = score_rows(scores)
    print(format_table(rows), flush=True)
    extras = []
    if baseline is not None:
        extras.append(_compare(config, baseline, splits.tests, scores))
    if config["suite"] is not None:
        extras.append(run_suite(config["suite"], ensemble, splits.tests, config["batch_size"], config["seed"], config["tta"]))
        print("\n" + extras[-1].texts["evaluation/robustness.md"], flush=True)
    if config["log"]:
        run_id = log_evaluation(config["tracking"], ensemble, scores, rows, config["model_uri"], extras, config["tta"])
        log.info("Logged the evaluation as MLflow run %s in %s", run_id, tracking.tracking_uri(config["tracking"]["uri"]))
    return rows


def _compare(config: Mapping[str, Any], baseline: Ensemble, tests: Mapping[str, Any], scores: Mapping[str, Scores]) -> Extras:
    """Score the baseline on the same images as the model, print the paired table, return it as extras."""
    from digit_experiments.inference.comparison import TEXT_FILE, comparison_extras, comparison_rows
    from digit_experiments.inference.scoring import score_sets

    baseline_scores = score_sets(baseline, dict(tests), config["batch_size"], config["tta"])
    extras = comparison_extras(comparison_rows(scores, baseline_scores), [member.uri for member in baseline.members])
    print("\nAgainst the baseline (McNemar's exact test on the digits only one of the two reads right):\n"
          + extras.texts[TEXT_FILE], flush=True)
    return extras


@startup.hydra_command("evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate as configured; a user mistake exits with status 2 and one paragraph."""
    startup.run_command(evaluate, cfg)


if __name__ == "__main__":
    main()
