"""Local ports for the servers the tests start, and for services that must be unreachable."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on, to stand for an unreachable service (connections are refused at once)."""
    return free_port()


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``GET url`` until it answers 200; fail with the end of the server's ``log`` if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        assert process.poll() is None, f"the server exited with status {process.returncode}:\n{tail}"
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:g} s:\n{tail}"
        time.sleep(0.5)
