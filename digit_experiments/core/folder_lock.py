"""One training process per output folder: a lock held while a run trains there.

``resume=`` of a run that was still training in another process (its terminal
left open elsewhere, a scheduler's retry) had both processes train in the same
folder and log into the same MLflow run: doubled metric steps, and the later
one failing the finished run. An advisory lock on a file in the folder, held
for the whole run, lets the second process refuse at once. The operating
system releases it when its process ends, however it ends, so a killed run
never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from digit_experiments.core.errors import UserError

#: The lock file, inside the run's output folder; it holds the training process's id.
LOCK_FILE = ".training.lock"


@contextlib.contextmanager
def hold_output_folder(output_dir: Path) -> Iterator[None]:
    """Hold ``output_dir`` for this process while the block runs.

    Raises:
        UserError: when another live process holds it, naming that process.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UserError(
                f"{output_dir} is in use: another process (id {holder}) is training there right now. Two processes in "
                "one folder would log into the same run. Wait for it to end, or stop it first (Ctrl-C, or "
                f"`kill {holder}`), then resume."
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
