"""Shared fixtures: real data through configuration, isolated caches and MLflow stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets, located by the DIGITS_DATA_DIR environment variable (CI sets it)."""
    value = os.environ.get("DIGITS_DATA_DIR")
    if not value:
        pytest.skip("DIGITS_DATA_DIR is not set: point it at the folder holding mnist/, usps/, ...")
    path = Path(value).expanduser().resolve()
    if not (path / "mnist").is_dir():
        pytest.fail(f"DIGITS_DATA_DIR={value} has no mnist/ folder")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the test session's cache and MLflow store apart from the user's; pin the data directory.

    A relative ``DIGITS_DATA_DIR`` (CI sets ``../shared/data``) is made absolute
    here, because the CLI tests run their subprocesses from temporary directories.
    """
    os.environ["DIGITS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if os.environ.get("DIGITS_DATA_DIR"):
        os.environ["DIGITS_DATA_DIR"] = str(Path(os.environ["DIGITS_DATA_DIR"]).expanduser().resolve())
