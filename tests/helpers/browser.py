"""Debian's headless Chromium, driven by Playwright, for the tests of the demo page and the MLflow UI."""

from __future__ import annotations

import shutil

#: Flags for a sandboxed machine with no network: no background connections to Google's hosts
#: (refused here, many at a time) and no sandbox (tests run as root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium (``apt-get install chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")
