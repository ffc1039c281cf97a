"""dataset=auto: MNIST when it can be had, else the embedded set, loudly; dataset=mnist stays strict."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from digit_experiments.dataset import load_dataset
from digit_experiments.dataset.sources.auto import load_auto
from digit_experiments.core.errors import DataError


def _unreachable() -> list[str]:
    """A mirror where nothing listens, as when the machine is offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return [f"http://127.0.0.1:{probe.getsockname()[1]}/"]


def test_mnist_when_present(data_dir: Path) -> None:
    source = load_auto(data_dir, mirrors=_unreachable())
    assert source.name == "mnist" and len(source.train_labels) == 60000
    assert source.notes == {"dataset.auto": "mnist"}


def test_offline_without_mnist_falls_back_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        splits = load_dataset({"auto": {"mirrors": _unreachable(), "timeout": 2.0}}, tmp_path, seed=0)
    assert list(splits.tests) == ["embedded"]
    assert splits.notes["dataset.fallback"] == "embedded" and splits.notes["dataset.auto"] == "embedded"
    assert str(tmp_path / "mnist") in splits.notes["dataset.fallback_reason"]
    assert "DATASET FALLBACK" in caplog.text and "NOT comparable" in caplog.text
    assert len(splits.train_labels) + len(splits.val_labels) == 1618


def test_a_damaged_mnist_file_stops_the_run_instead_of_falling_back(data_dir: Path, tmp_path: Path) -> None:
    """A damaged file used to be a reason to train on the embedded set, with exit status 0."""
    (tmp_path / "mnist").mkdir()
    for original in (data_dir / "mnist").glob("*.gz"):
        (tmp_path / "mnist" / original.name).symlink_to(original)
    damaged = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    damaged.unlink()
    damaged.write_bytes((data_dir / "mnist" / damaged.name).read_bytes() + b"\0")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz") as stopped:
        load_auto(tmp_path, mirrors=_unreachable())
    assert "missing" not in str(stopped.value)


def test_explicit_mnist_never_falls_back(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="MNIST files missing"):
        load_dataset({"mnist": {}}, tmp_path, seed=0)
