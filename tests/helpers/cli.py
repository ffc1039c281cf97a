"""Helpers shared by the tests: composing the real config and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def compose_config(overrides: list[str] | None = None, return_hydra_config: bool = False) -> DictConfig:
    """Compose ``conf/train.yaml`` with ``overrides`` through Hydra's compose API (with the
    ``hydra`` node, sweeper and launcher included, when ``return_hydra_config``)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides or []), return_hydra_config=return_hydra_config)


def run_config(tmp_path: Path, overrides: list[str] | None = None) -> DictConfig:
    """A composed config whose outputs and MLflow store live in ``tmp_path``."""
    return compose_config(
        [
            f"paths.output_dir={tmp_path / 'output'}",
            f"paths.mlruns_dir={tmp_path / 'mlruns'}",
            *(overrides or []),
        ]
    )


def command_environment(**extra: str) -> dict[str, str]:
    """The environment for a command a test starts: this interpreter's ``bin/`` first on PATH.

    Tests may run from a virtual environment that is not activated
    (``<venv>/bin/python -m pytest``); commands that look others up on PATH
    (``mlflow models serve`` starts ``uvicorn``) must still find the ones
    installed beside :data:`sys.executable`. The test session's own tracking
    URI is dropped, so each command uses the store its test gives it (in ``extra``, or its config).
    """
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env.update({"PYTHONUNBUFFERED": "1", **extra})
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_cli(module: str, args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` in ``cwd`` as a user would, capturing its output."""
    env = command_environment()
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
