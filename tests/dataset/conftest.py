"""Fixtures of the dataset tests: the real sources, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_experiments.dataset.sources.base import SourceData
from digit_experiments.dataset.sources.mnist import load_mnist
from digit_experiments.dataset.sources.not_mnist import load_not_mnist


@pytest.fixture(scope="session")
def mnist(data_dir: Path) -> SourceData:
    """The real MNIST source (the digits the synthetic test files are made from)."""
    return load_mnist(data_dir)


@pytest.fixture(scope="session")
def not_mnist(data_dir: Path) -> SourceData:
    """The full not_mnist source: 107,730 PNGs decoded cold into the session's empty cache."""
    return load_not_mnist(data_dir)
