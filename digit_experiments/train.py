"""Entry point: ``python -m digit_experiments.train [group=option ...] [key=value ...]``.

A thin Hydra wrapper around :func:`digit_experiments.experiment.run`. User
mistakes (bad config values, missing or corrupt data) are printed as one
paragraph and exit with status 2; everything else keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from digit_experiments.errors import UserError  # noqa: E402

log = logging.getLogger("digit_experiments")


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C so a killed job's run is marked KILLED, not left RUNNING."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Run one training job; return the optimised metric (for Hydra sweepers)."""
    _interrupt_on_sigterm()
    from digit_experiments import experiment

    try:
        return experiment.run(cfg, list(HydraConfig.get().overrides.task))
    except UserError as error:
        log.error("%s", error)
        print(f"\nError: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
