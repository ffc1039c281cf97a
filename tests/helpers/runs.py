"""A finished training run the tests share: where it was trained and its MLflow run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow


@dataclass(frozen=True)
class SmokeRun:
    """A smoke-trained model: where it was trained (the folder holding `mlruns/`) and its finished MLflow run."""

    workdir: Path
    client: mlflow.MlflowClient
    run: mlflow.entities.Run
    #: What the training command printed on stdout (not a terminal).
    stdout: str = ""

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def store(self) -> str:
        return f"sqlite:///{self.workdir}/mlruns/mlflow.db"
