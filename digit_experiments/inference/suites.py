"""Evaluation suites beyond the clean test sets (``evaluate suite=<name>``), as tables, metrics and figures."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.tables import csv_text, markdown_table
from digit_experiments.inference.evaluation import Extras
from digit_experiments.inference.robustness import COLUMNS, MEAN, examples_figure, mean_corruption_errors, robustness_rows

SUITES = ("robustness",)


def check_suite(name: str | None) -> None:
    """Refuse an unknown suite before any work (None, no suite, is fine)."""
    if name is not None and name not in SUITES:
        raise ConfigError(f"Unknown evaluation suite {name!r}. Use suite=robustness, or suite=null for the clean test sets.")


def run_suite(
    name: str, model: Any, tests: Mapping[str, tuple[np.ndarray, np.ndarray]], batch_size: int, seed: int, tta: bool = False
) -> Extras:
    """Run suite ``name`` on ``model`` and the test sets (with test-time augmentation if ``tta``);
    return its table, metrics and figures.

    Raises:
        ConfigError: for a suite that does not exist.
    """
    check_suite(name)
    rows = robustness_rows(model, tests, batch_size, seed, tta)
    metrics = {f"robustness_{r['corruption']}_{r['source']}_accuracy": r["accuracy"] for r in rows if r["corruption"] != MEAN}
    metrics.update({f"robustness_{source}_mce": error for source, error in mean_corruption_errors(rows).items()})
    first_images = next(iter(tests.values()))[0]
    return Extras(
        metrics=metrics,
        texts={"evaluation/robustness.md": markdown_table([{k: r[k] for k in COLUMNS} for r in rows]),
               "evaluation/robustness.csv": csv_text(rows, COLUMNS)},
        figures={"plots/robustness_examples.png": examples_figure(first_images, seed)},
    )
