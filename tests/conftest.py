"""Shared fixtures: real data through configuration, isolated caches and MLflow stores."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Iterator

import mlflow
import pytest

from helpers.runs import SmokeRun

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


def pytest_configure(config: pytest.Config) -> None:
    """``-m "not e2e"`` runs the fast part alone; CI runs everything."""
    config.addinivalue_line("markers", "e2e: runs the real commands in subprocesses (slower); deselect with -m 'not e2e'")


@pytest.fixture
def restored_signal_handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For a test that installs the commands' signal handling in this process: a fresh count of
    signals, and afterwards the previous SIGTERM, SIGHUP and SIGINT handlers and ``sys.unraisablehook``."""
    from digit_experiments.core import startup

    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    monkeypatch.setattr(startup, "SIGNALS_RECEIVED", [])
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.fixture(scope="session")
def smoke_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """One ``debug=smoke`` training of the seed network through the real CLI, shared by every test that needs a model."""
    from helpers import run_cli

    workdir = tmp_path_factory.mktemp("smoke")
    result = run_cli("digit_experiments.train", ["debug=smoke"], cwd=workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("digit_experiments").experiment_id])
    return SmokeRun(workdir, client, run, result.stdout)


@pytest.fixture(scope="session")
def postgres():
    """A throw-away PostgreSQL cluster for the whole session (``.ci/run`` installs the server).

    Skipped with a one-line reason where PostgreSQL is not installed; under CI
    (``CI=true``) its absence is a failure, so those tests always run there.
    """
    from helpers import PostgresCluster, find_binary

    if find_binary("initdb") is None:
        reason = "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); apt-get install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's ``chromium``, which ``.ci/run`` installs) through Playwright.

    Skipped with a one-line reason where Chromium or Playwright is missing;
    under CI (``CI=true``) that is a failure, so the browser tests always run there.
    """
    from helpers.browser import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        reason = "Chromium or Playwright is missing: apt-get install chromium; pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
