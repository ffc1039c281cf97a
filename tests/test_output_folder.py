"""Why an output path cannot be written, asked before any work (the commands' folders and the benchmarks' files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_experiments.core.errors import UserError
from digit_experiments.core.output_folder import check_creatable, unwritable_reason


def test_a_new_folder_or_file_in_a_writable_place_can_be_written(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{}")
    assert unwritable_reason(tmp_path / "runs" / "today") is None
    assert unwritable_reason(tmp_path / "figures" / "report.json", folder=False) is None
    assert unwritable_reason(tmp_path / "report.json", folder=False) is None, "an existing file is overwritten"
    assert list(tmp_path.iterdir()) == [tmp_path / "report.json"], "the probe leaves nothing behind"


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    assert unwritable_reason(tmp_path / "a_file") == f"{tmp_path / 'a_file'} is a file, not a folder"
    assert unwritable_reason(tmp_path / "a_file" / "run") == f"{tmp_path / 'a_file'} is a file, not a folder"
    assert unwritable_reason(tmp_path, folder=False) == f"{tmp_path} is a folder, not a file"


@pytest.mark.skipif(not Path("/proc/self/mounts").is_file(), reason="no mount table: not Linux")
def test_a_kernel_file_system_is_named_not_probed() -> None:
    """``/proc`` refuses even root, whose permission bits say yes everywhere; the probe's reason for it was
    "No such file or directory", although /proc exists. Train's ``hydra.run.dir`` and export's ``output`` both ask here."""
    reason = unwritable_reason(Path("/proc/digit_runs"))
    assert reason == "/proc is the kernel's `proc` file system, which holds only the kernel's own entries, not users' files"
    with pytest.raises(UserError, match="kernel's `proc` file system.*Point `hydra.run.dir` at"):
        check_creatable(Path("/proc/digit_runs/run"), "hydra.run.dir")


def test_a_name_too_long_for_the_file_system_is_one_paragraph(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot be created: File name too long. Point `hydra.run.dir` at"):
        check_creatable(tmp_path / ("x" * 300) / "run", "hydra.run.dir")
