"""Entry point: ``python -m digit_experiments.train [group=option ...] [key=value ...]``.

A thin Hydra wrapper around :func:`digit_experiments.training.experiment.run`. User
mistakes (bad config values, missing or corrupt data) are printed as one
paragraph and exit with status 2; everything else keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from digit_experiments.core.errors import UserError, exit_for_user_error  # noqa: E402

log = logging.getLogger("digit_experiments")


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C so a killed job's run is marked KILLED, not left RUNNING."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def _share_cores_between_parallel_jobs(cfg: DictConfig) -> None:
    """With the joblib launcher, give each of the N parallel jobs cores/N TensorFlow threads.

    Without this, N jobs would each start a thread per core and oversubscribe
    the machine. An explicit ``trainer.threads`` is left alone.
    """
    launcher = HydraConfig.get().launcher
    if cfg.trainer.threads is not None or "joblib" not in str(launcher.get("_target_", "")):
        return
    cores = os.cpu_count() or 1
    jobs = launcher.get("n_jobs") or 1
    jobs = cores if jobs < 0 else min(jobs, cores)
    cfg.trainer.threads = max(1, cores // jobs)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Run one training job; return the optimised metric (for Hydra sweepers).

    In a multirun, a failed job is logged (its MLflow run is marked FAILED)
    and returns NaN, so the remaining jobs still run and the sweep report
    still appears; a pruned Optuna trial is passed on to the sweeper.
    """
    _interrupt_on_sigterm()
    from digit_experiments.training import experiment

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:
        _share_cores_between_parallel_jobs(cfg)
    try:
        return experiment.run(cfg, list(HydraConfig.get().overrides.task))
    except UserError as error:
        log.error("%s", error)
        if multirun:
            return float("nan")
        exit_for_user_error(error)
    except Exception as error:
        if not multirun or type(error).__name__ == "TrialPruned":
            raise
        log.exception("Job failed; the sweep goes on.")
        return float("nan")


if __name__ == "__main__":
    main()
