"""The Hydra callback that checks, before anything runs, that the command's output folder can be made.

Hydra creates ``hydra.run.dir`` (or ``hydra.sweep.dir``) itself, after the
callbacks' start events and before the task; a folder it cannot create (under
a file, on a read-only mount, in ``/proc``) ended in Hydra's own traceback, not
in this project's one-paragraph error. Hydra offers no option for that, so this
callback probes the folder first. It creates nothing that stays: the probe is a
temporary folder in the nearest existing parent, removed at once, because Hydra
resolves the folder's name again when it creates it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from digit_experiments.core.errors import UserError, exit_for_user_error, first_line

#: File systems the kernel fills with its own entries: no folder of a user can be made in them,
#: although some let a probe folder be created (a cgroup file system makes it a control group).
_KERNEL_FILE_SYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "configfs", "bpf",
                        "pstore", "devpts"}


class OutputFolderCheck(Callback):
    """Stop a run or sweep with one paragraph (exit status 2) when its output folder cannot be created."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Check ``hydra.run.dir`` before Hydra creates it."""
        _check_or_exit(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Check ``hydra.sweep.dir`` before the sweep opens its parent run or starts a job."""
        _check_or_exit(config.hydra.sweep.dir, "hydra.sweep.dir")


def check_creatable(folder: Path, key: str) -> None:
    """Raise when ``folder`` neither is a writable folder nor can be created.

    Args:
        folder: The folder a command will write its outputs to.
        key: The config key that names it, for the message.

    Raises:
        UserError: naming the folder, the reason and the fix.
    """
    reason = unwritable_reason(folder)
    if reason:
        shown = str(folder) if len(str(folder)) <= 200 else f"{str(folder)[:200]}..."
        raise UserError(f"The output folder {shown} cannot be created: {reason}. "
                        f"Point `{key}` at a folder this user can write, e.g. `{key}=outputs/my_run`.")


def unwritable_reason(path: Path, folder: bool = True) -> str | None:
    """Why ``path`` cannot be written, or None when it can.

    Permission bits are not asked (they say yes to root on a read-only mount):
    a temporary folder is made and removed in the nearest existing parent. A
    path in one of the kernel's own file systems (``/proc``, ``/sys``) is named
    as such first, since the probe's reason there misleads.

    Args:
        path: An absolute path.
        folder: Whether ``path`` is a folder to create or fill (else a file to write).

    Returns:
        The reason as a clause, e.g. ``/data/a_file is a file, not a folder``.
    """
    kernel = _kernel_file_system(path)
    if kernel:
        return kernel
    try:
        if path.exists() and path.is_dir() != folder:
            return f"{path} is {'a file, not a folder' if folder else 'a folder, not a file'}"
        parent = path if folder else path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    except OSError as error:  # a name longer than the file system allows
        return error.strerror or first_line(error)
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    try:
        shutil.rmtree(tempfile.mkdtemp(prefix=".write-check-", dir=parent))
    except OSError as error:
        return f"{parent} cannot be written to ({error.strerror or first_line(error)})"
    return None


def _check_or_exit(folder: str, key: str) -> None:
    """:func:`check_creatable`, with a failure printed as one paragraph and exit status 2."""
    try:
        check_creatable(Path(folder).expanduser().absolute(), key)
    except UserError as error:
        exit_for_user_error(error)


def _kernel_file_system(folder: Path) -> str | None:
    """Why ``folder`` lies where the kernel keeps its own entries (``/proc``, ``/sys``), or None.

    A probe there fails with a misleading reason (creating in ``/proc`` says "No such file or
    directory"), so the mount is named instead. None where the mount table cannot be read (not Linux).
    """
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    path = folder.resolve()
    mounts = [(Path(fields[1].replace("\\040", " ")), fields[2]) for fields in (line.split() for line in lines)
              if len(fields) > 2]
    holding = [(mount, kind) for mount, kind in mounts if path == mount or mount in path.parents]
    if not holding:
        return None
    mount, kind = max(holding, key=lambda item: len(item[0].parts))
    if kind not in _KERNEL_FILE_SYSTEMS:
        return None
    return f"{mount} is the kernel's `{kind}` file system, which holds only the kernel's own entries, not users' files"
