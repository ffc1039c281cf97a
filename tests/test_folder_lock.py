"""One training process per output folder: a second is refused while the first holds it, and not after."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.core.folder_lock import hold_output_folder


def test_a_second_holder_is_refused_naming_the_first_and_the_folder_is_free_again_after(tmp_path: Path) -> None:
    """`resume=` of a run still training elsewhere had two processes log into one run."""
    folder = tmp_path / "run"
    with hold_output_folder(folder):
        with pytest.raises(UserError, match=f"is in use: another process \\(id {os.getpid()}\\) is training there"):
            with hold_output_folder(folder):
                pass
    with hold_output_folder(folder):
        pass


def test_a_process_that_dies_leaves_no_stale_lock(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    code = f"import os; from pathlib import Path; from digit_experiments.core.folder_lock import hold_output_folder; " \
           f"hold_output_folder(Path({str(folder)!r})).__enter__(); os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 9
    with hold_output_folder(folder):
        pass
