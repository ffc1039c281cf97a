"""``mlflow models serve`` of a logged or registered model, on 127.0.0.1, for the tests that post to it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from helpers.cli import command_environment
from helpers.network import free_port, wait_until_answers


@contextlib.contextmanager
def served_model(model_uri: str, store: str, workdir: Path, timeout: float = 180) -> Iterator[str]:
    """Serve ``model_uri`` from the tracking store ``store``; yield its URL once ``/ping`` answers.

    The server's output goes to ``<workdir>/serve.log`` (shown when it fails to start); the
    server and its workers are killed on exit.
    """
    port = free_port()
    log_path = workdir / "serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "--workers", "1"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=workdir, env=command_environment(MLFLOW_TRACKING_URI=store),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/ping", process, log_path, timeout)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def post(url: str, body: bytes) -> tuple[int, str]:
    """POST a JSON body; the status and the text of the answer (errors included)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
