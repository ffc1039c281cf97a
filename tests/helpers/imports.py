"""What a command imports, read from ``python -X importtime``: to check that heavy frameworks load lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.cli import command_environment


def imported_modules(arguments: list[str], cwd: Path, expected: tuple[str, ...]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime <arguments>``; return the result and the names of the modules it imported.

    Args:
        arguments: What follows ``python -X importtime``.
        cwd: The folder to run in.
        expected: Modules of which at least one must be listed, as proof that the report was read.
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        cwd=cwd, env=command_environment(), capture_output=True, text=True, timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert set(expected) & modules, "no -X importtime report: " + result.stderr[-2000:]
    return result, modules


def top_level(modules: set[str]) -> set[str]:
    """The top-level packages of ``modules``."""
    return {name.split(".", 1)[0] for name in modules}
