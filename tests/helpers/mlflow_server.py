"""A real ``mlflow server`` on 127.0.0.1 that a test can stop and start again on the same port and store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers.network import free_port


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
        """Start the server and wait until it answers ``/health``."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", self.backend_uri,
             "--artifacts-destination", str(self.folder / "server-artifacts"), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no GenAI job workers: faster starts
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not start within {timeout:g} s")

    def stop(self) -> None:
        """Kill the server and its web workers (as a crash would) and wait for it to end."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
