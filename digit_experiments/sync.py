"""Entry point: ``python -m digit_experiments.sync <output dir> [--tracking-uri URI]``.

Sends a training run's tracking records that never reached the store (it was
down when the run ended) from the run's output folder, in order, from where
delivery stopped; running it again sends nothing twice. A sweep's folder
sends the records of each of its jobs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from digit_experiments.core.errors import user_errors_exit


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and deliver the pending records (:func:`digit_experiments.tracking.deliver_pending`)."""
    parser = argparse.ArgumentParser(prog="python -m digit_experiments.sync", description=__doc__.split("\n\n")[1])
    parser.add_argument("output_dir", type=Path, help="the training run's output folder (named in its final message)")
    parser.add_argument("--tracking-uri", help="the address of the store the run started in, if it has moved since (the run must be in it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    from digit_experiments.tracking import deliver_pending

    for folder in run_folders(args.output_dir):
        with user_errors_exit():
            sent, refused = deliver_pending(folder, args.tracking_uri)
        skipped = f" ({refused} refused by the store and skipped)" if refused else ""
        print(f"Sent {sent} pending records of {folder} to the tracking store{skipped}; nothing is pending now.")


def run_folders(output_dir: Path) -> list[Path]:
    """``output_dir`` itself when it is a run's folder; else the job folders of the sweep it holds (``0/``, ``1/``, ...).

    A sweep's folder holds no journal of its own, and sending its jobs' records one
    folder at a time is what a user would do by hand.
    """
    from digit_experiments.tracking.journal import HEADER_FILE, JOURNAL_DIR

    if (output_dir / JOURNAL_DIR).is_dir() or not output_dir.is_dir():
        return [output_dir]
    jobs = sorted((path.parent.parent for path in output_dir.glob(f"*/{JOURNAL_DIR}/{HEADER_FILE}")), key=lambda job: (len(job.name), job.name))
    return jobs or [output_dir]


if __name__ == "__main__":
    main()
