"""Entry point: ``python -m digit_experiments.export model_uri=... output=<folder>``.

Writes a trained model as ``<output>/model.keras`` and ``<output>/saved_model/``,
files that load without MLflow (see :mod:`digit_experiments.inference.export`),
and prints their paths. When ``model.keras`` holds a class of this package (the
Deskew layer), a line on stderr names the import its loader needs first. A user
mistake (a bad model URI, a list of models, a ``sweep:`` reference, a SavedModel,
which is already an export) is one paragraph and exit status 2.

A thin Hydra wrapper: the work is imported only when the command runs, so
``--help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup

startup.quiet_libraries()
startup.register_resolvers()


def export(config: Mapping[str, Any]) -> tuple[Path, Path]:
    """Load the configured model and export it.

    Args:
        config: The resolved ``conf/export.yaml`` as a plain dict.

    Returns:
        The paths written (see :func:`digit_experiments.inference.export.export_model`).
    """
    startup.import_tensorflow()
    from digit_experiments import tracking
    from digit_experiments.inference.export import check_export_folder, export_model, export_reference, loading_note
    from digit_experiments.inference.loading import load_member, reads_tracking_store

    output = check_export_folder(str(config["output"]))
    tracking.connect(config["tracking"], used=reads_tracking_store(config["model_uri"]))
    member = load_member(export_reference(config["model_uri"]))
    written = export_model(member.model, output)
    for path in written:
        print(path)
    note = loading_note(written[0])
    if note:
        print(note, file=sys.stderr)
    return written


@startup.hydra_command("export")
def main(cfg: DictConfig) -> None:
    """Export as configured; a user mistake exits with status 2 and one paragraph."""
    startup.run_command(export, cfg)


if __name__ == "__main__":
    main()
