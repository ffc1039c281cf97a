"""Tags that make a run traceable: the code's git state and the data's checksums."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from mlflow.entities import Run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Tag holding a training run's output directory, where a resume finds its backup.
OUTPUT_DIR_TAG = "output_dir"
#: Tag that marks a sweep's parent run (value ``parent``).
SWEEP_ROLE_TAG = "sweep.role"
#: Tag of the FAILED run left for a sweep job that stopped before its own run started.
STOPPED_BEFORE_TRAINING_TAG = "sweep.stopped_before_training"
#: Tag holding why a run ended FAILED or KILLED; a resumed run loses it.
FAILURE_REASON_TAG = "failure_reason"


def stopped_before_training(run: Run) -> bool:
    """Whether ``run`` stands for a sweep job that a config or data mistake stopped before its run started."""
    return run.data.tags.get(STOPPED_BEFORE_TRAINING_TAG) == "true"


def git_tags() -> dict[str, str]:
    """The project's git commit and whether the work tree had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"git.commit": git("rev-parse", "HEAD"), "git.dirty": str(bool(git("status", "--porcelain")))}
    except (OSError, subprocess.SubprocessError):
        return {"git.commit": "unknown"}


def tag_key(text: str) -> str:
    """``text`` with the characters MLflow refuses in tag keys replaced by ``_``."""
    return re.sub(r"[^\w./ -]", "_", text)


def data_tags(checksums: Mapping[str, str], notes: Mapping[str, str]) -> dict[str, str]:
    """One ``data.sha256.<file>`` tag per data file read, plus the dataset notes."""
    tags = {f"data.sha256.{name}": digest for name, digest in checksums.items()}
    return {tag_key(key): str(value)[:5000] for key, value in {**tags, **notes}.items()}
