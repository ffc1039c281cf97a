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
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the array cache of the test session out of the user's cache directory."""
    os.environ["DIGITS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
