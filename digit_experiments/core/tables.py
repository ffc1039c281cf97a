"""Rows of results as text: the one CSV writer, and a Markdown table.

Sweep reports, ``evaluate`` and ``predict`` all print or log tables of
dictionaries; they share these two functions so that every CSV the project
writes has the same dialect (a header, ``\\n`` line ends).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The rows as CSV text with a header line.

    Args:
        rows: One mapping per row.
        columns: Column order; default: the keys of the first row. Missing values are empty.

    Returns:
        The CSV text; empty when there are neither rows nor columns.
    """
    columns = list(columns if columns is not None else (rows[0] if rows else []))
    if not columns:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(rows: Sequence[Mapping[str, Any]], empty: str = "No rows.") -> str:
    """The rows as a Markdown table (floats with 4 decimals), or ``empty`` when there are none."""
    if not rows:
        return empty + "\n"
    columns = list(rows[0])
    cell = lambda value: f"{value:.4f}" if isinstance(value, float) else str(value)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
