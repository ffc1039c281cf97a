"""A run's config as params and artifacts, and its figures as PNG artifacts."""

from __future__ import annotations

from typing import Any, Mapping

import mlflow
from matplotlib.figure import Figure

from digit_experiments.core.validation import flatten

#: MLflow's limit on the length of a param value.
MAX_PARAM_LENGTH = 6000


def log_config(config: Mapping[str, Any], resolved_yaml: str, overrides: list[str], recorder: Any = mlflow) -> None:
    """Every resolved config value as a flattened param; the YAML and overrides as artifacts.

    ``recorder`` is the ``mlflow`` module (the active run) or a run's
    :class:`~digit_experiments.tracking.journal.RunJournal`.
    """
    params = {key: str(value)[:MAX_PARAM_LENGTH] for key, value in flatten(config)}
    recorder.log_params(params)
    recorder.log_text(resolved_yaml, "config/resolved.yaml")
    recorder.log_text("\n".join(overrides) + "\n", "config/overrides.txt")


def log_figure(figure: Figure, artifact_file: str, recorder: Any = mlflow) -> None:
    """Log a matplotlib figure as a PNG artifact (through ``recorder``, as :func:`log_config`) and free it."""
    import matplotlib.pyplot as plt

    recorder.log_figure(figure, artifact_file)
    plt.close(figure)
