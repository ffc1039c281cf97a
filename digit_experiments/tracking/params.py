"""A run's config as params and artifacts, and its figures as PNG artifacts."""

from __future__ import annotations

from typing import Any, Mapping

import mlflow
from matplotlib.figure import Figure

from digit_experiments.core.validation import flatten

#: MLflow's limit on the length of a param value.
MAX_PARAM_LENGTH = 6000


def log_config(config: Mapping[str, Any], resolved_yaml: str, overrides: list[str]) -> None:
    """Every resolved config value as a flattened param; the YAML and overrides as artifacts."""
    params = {key: str(value)[:MAX_PARAM_LENGTH] for key, value in flatten(config)}
    mlflow.log_params(params)
    mlflow.log_text(resolved_yaml, "config/resolved.yaml")
    mlflow.log_text("\n".join(overrides) + "\n", "config/overrides.txt")


def log_figure(figure: Figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact and free it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)
