"""What a loader does with a bad file or row: stop with a clear error, or skip it and say so.

Every source that reads user-made input (folders, CSVs, HDF5 rows) takes an
``on_error`` option: ``raise`` stops at the first bad input with a message that
names it; ``skip`` leaves it out, counts it, logs one warning listing the
offenders and records the count as a run tag. Nothing is dropped silently and
no image is ever kept with a wrong or guessed label.
"""

from __future__ import annotations

import logging

from digit_experiments.core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

ON_ERROR = ("skip", "raise")
#: How many offenders a warning or a run tag lists by name.
_LISTED = 10


def check_on_error(on_error: str) -> str:
    """Return ``on_error`` if it is a valid policy, else raise a ConfigError."""
    if on_error not in ON_ERROR:
        raise ConfigError(
            f"Unknown on_error policy {on_error!r}. Use `skip` (leave bad files or rows out with a counted "
            "warning) or `raise` (stop at the first one)."
        )
    return on_error


class BadInputs:
    """The bad inputs one source met while loading, handled by its ``on_error`` policy.

    Args:
        source: The source's registry name (used in messages and tag names).
        on_error: ``"skip"`` or ``"raise"``.
    """

    def __init__(self, source: str, on_error: str) -> None:
        self.source = source
        self.on_error = check_on_error(on_error)
        self.problems: list[str] = []

    def add(self, where: str, reason: str) -> None:
        """Record one bad input; raise a DataError naming it under ``on_error="raise"``.

        Args:
            where: The file, and the row for tabular files (``"a.csv, row 12"``).
            reason: What is wrong with it.
        """
        if self.on_error == "raise":
            raise DataError(
                f"Bad input for dataset source {self.source!r}: {where}: {reason}. Fix or remove it, or set "
                f"`dataset.sources.{self.source}.on_error=skip` to leave bad inputs out with a warning."
            )
        self.problems.append(f"{where}: {reason}")

    def examples(self) -> str:
        """The first skipped inputs and their reasons, as one line."""
        return "; ".join(self.problems[:_LISTED])[:2000]

    def notes(self) -> dict[str, str]:
        """Run tags describing the skipped inputs (empty when there were none)."""
        if not self.problems:
            return {}
        return {
            f"dataset.{self.source}.skipped_inputs": str(len(self.problems)),
            f"dataset.{self.source}.skipped_examples": self.examples(),
        }


def warn_skipped(source: str, notes: dict[str, str]) -> None:
    """Log the counted warning for the inputs a source skipped, if any (also for cached loads)."""
    count = notes.get(f"dataset.{source}.skipped_inputs")
    if count:
        examples = notes.get(f"dataset.{source}.skipped_examples", "")
        log.warning(
            "Dataset source %r skipped %s bad input(s) (set on_error=raise to stop instead). First ones: %s",
            source,
            count,
            examples,
        )
