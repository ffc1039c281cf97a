"""README's ``mlflow ui`` command, started for real on a free port of 127.0.0.1 for the browser tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Iterator

from helpers.cli import command_environment
from helpers.network import free_port, wait_until_answers


def readme_ui_command(port: int) -> list[str]:
    """README's command (run from the folder holding ``mlruns/``), on ``port`` instead of 5000."""
    return ["mlflow", "ui", "--backend-store-uri", "sqlite:///mlruns/mlflow.db", "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def mlflow_ui(workdir: Path, log: Path, timeout: float = 120) -> Iterator[str]:
    """Run README's ``mlflow ui`` in ``workdir`` until the block ends (even on failure); yield its base URL.

    The ``mlflow`` found beside this interpreter runs in a session of its own,
    so that its web workers end with it; its output goes to ``log``, which the
    failure shows when the UI does not answer ``/health`` within ``timeout`` seconds.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = command_environment(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no GenAI job workers: faster starts
    with open(log, "wb") as output:
        process = subprocess.Popen(
            readme_ui_command(port), cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until_answers(f"{url}/health", process, log, timeout)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
