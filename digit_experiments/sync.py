"""Entry point: ``python -m digit_experiments.sync <output dir> [--tracking-uri URI]``.

Sends a training run's tracking records that never reached the store (it was
down when the run ended) from the run's output folder, in order, from where
delivery stopped; running it again sends nothing twice. The work is
:func:`digit_experiments.tracking.deliver_pending`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from digit_experiments.core.errors import user_errors_exit


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and deliver the pending records."""
    parser = argparse.ArgumentParser(prog="python -m digit_experiments.sync", description=__doc__.split("\n\n")[1])
    parser.add_argument("output_dir", type=Path, help="the training run's output folder (named in its final message)")
    parser.add_argument("--tracking-uri", help="the address of the store the run started in, if it has moved since (the run must be in it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    from digit_experiments.tracking import deliver_pending

    with user_errors_exit():
        sent, refused = deliver_pending(args.output_dir, args.tracking_uri)
    skipped = f" ({refused} refused by the store and skipped)" if refused else ""
    print(f"Sent {sent} pending records of {args.output_dir} to the tracking store{skipped}; nothing is pending now.")


if __name__ == "__main__":
    main()
