"""Predictions as text for people (an aligned table) or programs (JSON, CSV).

``predict`` prints only this text on stdout, so a program can read it while
the logs go to stderr. CSV is written by the project's one CSV writer,
:func:`digit_experiments.core.tables.csv_text`.
"""

from __future__ import annotations

import json
from typing import Sequence

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.tables import csv_text
from digit_experiments.inference.prediction import Prediction

FORMATS = ("table", "json", "csv")
#: The CSV columns: a scored file fills digit and probability, a failed one error.
CSV_COLUMNS = ("file", "digit", "probability", "error")


def check_format(form: str) -> None:
    """Refuse an output format that is not one of :data:`FORMATS`.

    Args:
        form: The configured ``format``.

    Raises:
        ConfigError: naming the valid formats.
    """
    if form not in FORMATS:
        raise ConfigError(f"Unknown format {form!r}: use one of {', '.join(FORMATS)} (e.g. `format=json`).")


def render(predictions: Sequence[Prediction], form: str) -> str:
    """The predictions as text, without a final line end.

    Args:
        predictions: What :func:`~digit_experiments.inference.prediction.predict_files` returned.
        form: One of :data:`FORMATS`.

    Returns:
        An aligned table, a JSON list of :meth:`Prediction.as_dict` objects, or CSV with a header.
    """
    rows = [p.as_dict() for p in predictions]
    if form == "json":
        return json.dumps(rows, indent=1)
    if form == "csv":
        return csv_text(rows, CSV_COLUMNS).rstrip("\n")
    return _table_text(rows)


def _table_text(rows: Sequence[dict]) -> str:
    """Rows of :meth:`Prediction.as_dict` as a table: file, digit, probability, or the error."""
    width = max([len("file")] + [len(r["file"]) for r in rows])
    lines = [f"{'file'.ljust(width)}  digit  probability"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['file'].ljust(width)}  ERROR: {r['error']}")
        else:
            lines.append(f"{r['file'].ljust(width)}  {r['digit']:>5}  {r['probability']:>11.4f}")
    return "\n".join(lines)
