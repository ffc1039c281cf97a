"""A real ``mlflow server`` on 127.0.0.1 that a test can stop and start again on the same port and store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers.network import free_port, wait_until_answers


class MlflowServer:
    """``mlflow server`` with a SQLite backend and proxied artifacts in ``folder``.

    Args:
        folder: Where the server keeps its artifacts, and its SQLite database (they outlive a stop).
        backend_uri: Another backend store (a PostgreSQL URL) instead of the SQLite file.
    """

    def __init__(self, folder: Path, backend_uri: str | None = None) -> None:
        self.folder = folder
        self.backend_uri = backend_uri or f"sqlite:///{folder}/server.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> MlflowServer:
        """Start the server and wait until it answers ``/health`` (its output goes to ``server.log`` in the folder)."""
        log = self.folder / "server.log"
        with open(log, "a") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--backend-store-uri", self.backend_uri,
                 "--artifacts-destination", str(self.folder / "server-artifacts"), "--workers", "1"],
                stdout=output, stderr=subprocess.STDOUT, cwd=self.folder, start_new_session=True,
                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no GenAI job workers: faster starts
            )
        try:
            wait_until_answers(f"{self.url}/health", self.process, log, timeout)
        except AssertionError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the server and its web workers (as a crash would) and wait for it to end."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
