"""Entry point: ``python -m digit_experiments.train [group=option ...] [key=value ...]``.

A thin Hydra wrapper around :func:`digit_experiments.training.experiment.run`,
imported only when a job runs (``--help`` and ``--cfg job`` never load
TensorFlow). User mistakes (bad config values, missing or corrupt data) are
printed as one paragraph and exit with status 2; a run whose loss diverged is
one paragraph and status 1; a run that trained but could
not deliver all its records to the tracking store says so and exits with
status 3 (``python -m digit_experiments.sync <output dir>`` sends them);
everything else keeps its traceback. Start-up policy shared with the other commands (quiet TensorFlow,
SIGTERM as Ctrl-C) is in :mod:`digit_experiments.core.startup`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from digit_experiments.core import startup
from digit_experiments.core.errors import ConfigError, TrainingDiverged, UserError, exit_for_user_error, exit_with_paragraph
from digit_experiments.hpo.launchers import parallel_jobs
from digit_experiments.tracking.journal import TrackingDeferred

log = logging.getLogger("digit_experiments")
#: The project's Optuna sweeper, as named in ``hydra.sweeper._target_``.
OPTUNA_SWEEPER = "digit_experiments_optuna"
#: Exit status of a run that trained but left tracking records to send with ``digit_experiments.sync``.
TRACKING_DEFERRED_EXIT = 3
#: Exit status of a run whose loss became NaN or infinite (a failed run, not a refused command).
DIVERGED_EXIT = 1
startup.quiet_libraries()
startup.register_resolvers()


def _share_the_machine_between_parallel_jobs(cfg: DictConfig) -> None:
    """With the joblib launcher, give each of the N parallel jobs cores/N TensorFlow threads and one line per epoch.

    Without this, N jobs would each start a thread per core and oversubscribe
    the machine, and draw their progress bars over each other in one terminal.
    Their epoch lines are logged, labelled with the job (``trainer.verbose=log``).
    An explicit ``trainer.threads`` or ``trainer.verbose`` is left alone.
    """
    cores = os.cpu_count() or 1
    jobs = min(parallel_jobs(HydraConfig.get().launcher), cores)
    if jobs == 1:
        return
    if cfg.trainer.threads is None:
        cfg.trainer.threads = max(1, cores // jobs)
    if cfg.trainer.verbose == "auto":
        cfg.trainer.verbose = "log"


#: What an interrupted sweep's paragraph says to do next (a single run's says it in :func:`_interrupted`).
AFTER_AN_INTERRUPTED_SWEEP = (
    "The sweep's parent run and the jobs it was running are KILLED; finished jobs keep their results. Run the same "
    "command again to continue an Optuna search (it runs only the missing trials), or continue an interrupted job "
    "with `resume=<its output folder>` (its folder is in the log above)."
)


@startup.hydra_command("train", AFTER_AN_INTERRUPTED_SWEEP)
def main(cfg: DictConfig) -> float:
    """Run one training job; return the optimised metric (for Hydra sweepers).

    In a multirun, a failed job is logged (its MLflow run is marked FAILED,
    or made FAILED if the job stopped before starting one) and returns NaN, so
    the remaining jobs still run and the sweep report has a row for each; a
    pruned Optuna trial is passed on to the sweeper.
    """
    startup.interrupt_on_termination_signals()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:
        _share_the_machine_between_parallel_jobs(cfg)
    else:
        _refuse_a_sweep_without_multirun(cfg)
    startup.import_tensorflow()
    from digit_experiments.training import experiment

    overrides = list(HydraConfig.get().overrides.task)
    try:
        return experiment.run(cfg, overrides)
    except TrackingDeferred as deferred:
        log.warning("%s", deferred)
        if multirun:
            return deferred.result
        sys.exit(TRACKING_DEFERRED_EXIT)
    except (UserError, TrainingDiverged) as error:  # messages that name the fix; a diverged run is FAILED already
        if multirun:
            log.error("%s", error)
            return _failed_job(cfg, overrides, error)
        startup.log_to_files(log, logging.ERROR, str(error))
        if isinstance(error, TrainingDiverged):
            exit_with_paragraph(f"{error} Its MLflow run is marked FAILED.", DIVERGED_EXIT)
        exit_for_user_error(error)
    except KeyboardInterrupt as interrupt:
        if multirun:  # the sweep stops too (one paragraph from startup.hydra_command); its callback ends the parent run KILLED
            if not cfg.get("optuna"):  # a trial is continued by running the search again, not by resume=
                log.warning("%s", startup.interrupted_message(interrupt, _how_to_continue_job(cfg)))
            raise
        _interrupted(cfg, interrupt)
    except Exception as error:
        if not multirun or type(error).__name__ == "TrialPruned":
            raise
        log.exception("Job failed; the sweep goes on.")
        return _failed_job(cfg, overrides, error)


def _refuse_a_sweep_without_multirun(cfg: DictConfig) -> None:
    """Stop a command without ``-m`` whose config defines a sweep: it would train one model outside it.

    ``experiment=robust_ensemble`` sweeps ``seed: 1,2,3,4,5`` (``hydra.sweeper.params``); without
    ``-m`` it trained one model with the default seed 42, none of its members, under the recipe's
    name. One member stays a single run: set every swept key on the command line (``seed=3``).
    """
    hydra_config = HydraConfig.get()
    if OPTUNA_SWEEPER in str(hydra_config.sweeper.get("_target_", "")):
        exit_for_user_error(ConfigError(
            "An Optuna search (`hparams_search=<name>`) runs only as a multirun, and this command has no `-m`: "
            "it would train once with the defaults and search nothing. Add `-m`, e.g. "
            "`python -m digit_experiments.train -m hparams_search=dropout_l2`."
        ))
    swept = dict(hydra_config.sweeper.get("params") or {})
    typed = {override.split("=", 1)[0].lstrip("+~") for override in hydra_config.overrides.task}
    unset = {key: value for key, value in swept.items() if key not in typed}
    if unset:
        keys = ", ".join(f"`{key}` ({value})" for key, value in unset.items())
        exit_for_user_error(ConfigError(
            f"This config sweeps {keys} in hydra.sweeper.params, and this command has no `-m`: it would train one "
            f"model with {', '.join(f'{key}={OmegaConf.select(cfg, key)}' for key in unset)}, outside the sweep. Add "
            f"`-m` to train every job of the sweep, or set {' and '.join(f'{key}=<value>' for key in unset)} to "
            "train one of them alone."
        ))


def _interrupted(cfg: DictConfig, interrupt: KeyboardInterrupt) -> NoReturn:
    """End an interrupted run with one paragraph saying how to continue it, instead of Python's traceback.

    The run itself was already ended KILLED. The exit status is the shell's for
    the signal: 130 for Ctrl-C, 128 + N for signal N (SIGTERM, SIGHUP).
    """
    how = _how_to_continue(cfg)
    startup.log_to_files(log, logging.WARNING, startup.interrupted_message(interrupt, how))  # train.log tells how the run ended, too
    startup.exit_interrupted(interrupt, how)


def _how_to_continue_job(cfg: DictConfig) -> str:
    """How to continue an interrupted sweep job alone: its overrides plus ``resume=`` its folder."""
    from digit_experiments.core.paths import resolve
    from digit_experiments.tracking.journal import journal_header

    job, output_dir = HydraConfig.get().job.num, resolve(cfg.paths.output_dir)
    if not journal_header(output_dir).is_file():
        return f"Job {job} stopped before its MLflow run started."
    command = " ".join(["python -m digit_experiments.train", *HydraConfig.get().overrides.task, f"resume={output_dir}"])
    return f"Job {job}'s MLflow run is KILLED; continue it alone with `{command}`."


def _how_to_continue(cfg: DictConfig) -> str:
    """How to continue an interrupted run: the ``resume=`` that does it, or why there is nothing to resume."""
    from digit_experiments.core.paths import resolve
    from digit_experiments.tracking.journal import journal_header

    output_dir = resolve(cfg.paths.output_dir)
    if cfg.get("resume"):
        return f"Its MLflow run is KILLED. Continue it by running the same command, `resume={cfg.resume}` included, again."
    if journal_header(output_dir).is_file():
        return f"Its MLflow run is KILLED. Continue it with the same command plus `resume={output_dir}`."
    return "It stopped before its MLflow run started, so there is nothing to resume; run the command again."


def _failed_job(cfg: DictConfig, overrides: list[str], error: Exception) -> float:
    """A failed sweep job's result, NaN, once its failure is on record as a FAILED run under the sweep."""
    from digit_experiments import tracking
    from digit_experiments.core.paths import resolve

    try:
        config = OmegaConf.to_container(cfg, resolve=True)
        output_dir = resolve(config["paths"]["output_dir"])
        tracking.record_job_that_never_started(config, output_dir, overrides, error)
    except Exception as record_error:  # the store may be what failed the job
        log.warning("The failed job could not be recorded in MLflow either: %s", record_error)
    return float("nan")


if __name__ == "__main__":
    main()
