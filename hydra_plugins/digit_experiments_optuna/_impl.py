"""The Optuna sweeper's implementation, on a current Optuna (4.x/5.x) and its ask-and-tell API.

``hydra-optuna-sweeper`` 1.3 pins Optuna 2.10, whose database storage fails
with the SQLAlchemy 2 that MLflow needs; this sweeper replaces it. Trials are
asked from a study kept in a database (SQLite by default; PostgreSQL for a
cluster), so an interrupted search resumes where it stopped and several
workers, on one machine or many, can share one search. Each trial runs as one
Hydra job through the configured launcher; the job reopens its trial to
report per-epoch values for pruning (:mod:`digit_experiments.hpo.storage`).

Search spaces are written in ``conf/hparams_search/*.yaml`` as::

    hydra:
      sweeper:
        params:
          model.dense_dropout: {type: float, low: 0.2, high: 0.6}
          model.l2: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
          batch_size: {type: categorical, choices: [128, 256, 384]}

and joined by the command line's sweeps (:mod:`._search_space`).

Hydra's plugin scanner skips modules whose name starts with ``_``: this one is
imported by :class:`~hydra_plugins.digit_experiments_optuna.optuna_sweeper.DigitOptunaSweeper`
only when a multirun uses it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import optuna
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.storages._heartbeat import get_heartbeat_thread  # what Study.optimize beats with; not exported

from digit_experiments.core.errors import UserError, exit_for_user_error
from digit_experiments.hpo.launchers import parallel_jobs
from digit_experiments.hpo.pruners import PRUNER_ATTR, build_pruner, checked_pruner_spec, pruner_keys_on_command_line
from digit_experiments.hpo.storage import Heartbeat, fail_abandoned_trials, open_storage
from digit_experiments.hpo.study_settings import study_direction
from hydra_plugins.digit_experiments_optuna._search_space import search_space

log = logging.getLogger(__name__)

#: Trial states that count towards ``n_trials`` (RUNNING: taken by a worker, maybe another one);
#: a FAIL counts only when the trial's own job failed (:data:`JOB_FAILED_ATTR`).
COUNTED_STATES = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.RUNNING,
)

#: The user attribute of a trial whose job ran and failed: its configuration's outcome, which counts
#: towards ``n_trials`` like a result. A trial failed because its worker died or was interrupted has none.
JOB_FAILED_ATTR = "job_failed"


def counted_trials(study: optuna.Study) -> int:
    """How many of the study's trials count towards ``n_trials``.

    A trial counts once a worker has taken it (RUNNING), and when it ended with
    an outcome of its configuration: a value, pruned, or its job failed. One
    whose worker stopped beating or was interrupted has no outcome; it does not
    count, so a worker runs another trial in its place and the search still ends
    with ``n_trials`` outcomes.
    """
    trials = study.get_trials(deepcopy=False)
    return sum(t.state in COUNTED_STATES or (t.state == optuna.trial.TrialState.FAIL and JOB_FAILED_ATTR in t.user_attrs)
               for t in trials)


def trial_seed(sampler_seed: int | None, number: int) -> int | None:
    """The sampler seed of trial ``number``: ``sampler_seed`` and the number mixed (None stays unseeded)."""
    if sampler_seed is None:
        return None
    return int(np.random.SeedSequence([sampler_seed, number]).generate_state(1)[0])


def ask(study: optuna.Study, distributions: Mapping[str, optuna.distributions.BaseDistribution],
        sampler_seed: int | None) -> optuna.Trial:
    """A new trial of ``study`` with every parameter sampled by a TPE sampler seeded for that trial.

    A sampler seeded once per process (``TPESampler(seed=42)``) hands the same
    draws to every process: two workers started together, or a resumed
    session, repeat each other's trials. The storage numbers trials atomically,
    so the trial is asked first, without sampling, and its parameters are then
    sampled by a sampler seeded with ``sampler_seed`` and the trial's number:
    a fresh study still gets the same parameters for the same seed, while every
    trial, whichever process asks it, gets its own draw. Optuna samples each
    parameter when it is suggested, with ``study.sampler`` at that moment, and
    TPE models the study's finished trials read from the storage, so the new
    sampler still learns from every worker's history.
    """
    with warnings.catch_warnings():  # "Heartbeat ... is supposed to be used with Study.optimize": the sweeper beats itself
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    study.sampler = optuna.samplers.TPESampler(seed=trial_seed(sampler_seed, trial.number))
    for name, dist in distributions.items():
        if isinstance(dist, optuna.distributions.FloatDistribution):
            trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
        else:
            trial.suggest_categorical(name, dist.choices)
    return trial


class DigitOptunaSweeperImpl:
    """Runs Optuna trials as Hydra jobs until ``n_trials`` of the study's trials have an outcome or a worker.

    Args:
        settings: ``hydra.sweeper`` (see :class:`~hydra_plugins.digit_experiments_optuna.config.DigitOptunaSweeperConf`).
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep the multirun's config and set up the launcher that runs each trial."""
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Any]:
        """Ask, run and tell trials until ``n_trials`` of the study count (:func:`counted_trials`); return the job results."""
        try:
            space = search_space(self.settings["params"], arguments)
            batch = self._batch_size()
            study = self._study()
        except UserError as error:  # a mistake in hydra.sweeper or a sweep: one paragraph, as for a job's config
            exit_for_user_error(error)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        results: list[Any] = []
        fail_abandoned_trials(study)
        while (missing := self.settings["n_trials"] - counted_trials(study)) > 0:
            trials = [ask(study, space.distributions, self.settings["sampler_seed"]) for _ in range(min(batch, missing))]
            for trial in trials:
                log.info("Trial %d: %s", trial.number, " ".join(f"{k}={v}" for k, v in trial.params.items()))
            try:
                with contextlib.ExitStack() as heartbeats:
                    for trial in trials:  # Optuna's own heartbeat, as Study.optimize runs it
                        heartbeats.enter_context(get_heartbeat_thread(trial._trial_id, study._storage))
                    jobs = self.launcher.launch([[*space.fixed, *self._trial_overrides(trial)] for trial in trials],
                                                initial_job_idx=len(results))
            except BaseException:
                for trial in trials:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
                raise
            results.extend(jobs)
            for trial, job in zip(trials, jobs):
                self._tell(study, trial, job)
            fail_abandoned_trials(study)
        self._log_best(study)
        return results

    def _batch_size(self) -> int:
        """Trials to run at once: ``n_jobs``, or by default as many as the joblib launcher runs in parallel.

        Without a batch, a search under ``hydra/launcher=joblib hydra.launcher.n_jobs=2`` ran one
        trial at a time, each given half the cores (``train._share_the_machine_between_parallel_jobs``).
        """
        n_jobs = self.settings.get("n_jobs")
        if n_jobs is None:
            return parallel_jobs(self.config.hydra.launcher)
        if n_jobs < 1:
            raise UserError(f"hydra.sweeper.n_jobs={n_jobs}: a worker runs at least one trial at a time. Set it to 1 "
                            "or more, or to null to run as many as the joblib launcher runs at once.")
        return n_jobs

    def _study(self) -> optuna.Study:
        """The study (created or resumed), with the configured pruner; :func:`ask` sets each trial's sampler."""
        spec = checked_pruner_spec(self.settings["pruner"], pruner_keys_on_command_line(self.config.hydra.overrides.hydra))
        study = optuna.create_study(
            study_name=self.settings["study_name"],
            storage=open_storage(self.settings["storage"], Heartbeat.of_sweeper(self.settings)),
            pruner=build_pruner(spec),
            direction=study_direction(self.config),
            load_if_exists=True,
        )
        study.set_user_attr(PRUNER_ATTR, spec)  # the jobs rebuild the same pruner from it
        return study

    def _trial_overrides(self, trial: optuna.Trial) -> list[str]:
        """The trial's sampled values, and where the job finds its trial to report to."""
        return [
            *(f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}" for name, value in trial.params.items()),
            f"+optuna.storage={self.settings['storage']}",
            f"+optuna.study_name={self.settings['study_name']}",
            f"+optuna.trial_id={trial._trial_id}",  # Optuna has no public id lookup across processes
            f"+optuna.trial_number={trial.number}",
        ]

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, job: Any) -> None:
        """Record a finished job's outcome in the study: value, pruned or failed.

        A trial whose heartbeats could not reach the storage for longer than ``stale_after`` was
        marked FAIL by another worker meanwhile; Optuna then refuses the outcome, which is logged.
        """
        outcome = job._return_value
        try:
            if isinstance(outcome, optuna.TrialPruned):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif isinstance(outcome, (int, float)) and math.isfinite(outcome):
                study.tell(trial, float(outcome))
            else:
                told = "" if isinstance(outcome, float) else f" ({outcome})"  # a failed job's NaN says nothing
                log.warning("Trial %d failed%s; its job's MLflow run is FAILED, with the reason in failure_reason.",
                            trial.number, told)
                trial.set_user_attr(JOB_FAILED_ATTR, True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            log.warning("Trial %d ended (%s), but another worker had already marked it FAIL after its heartbeat "
                        "stopped; the study keeps FAIL, and its MLflow run keeps the result.", trial.number, outcome)

    @staticmethod
    def _log_best(study: optuna.Study) -> None:
        """Log the best trial so far, or that none completed."""
        try:
            best = study.best_trial
        except ValueError:
            log.warning("No trial of study %s completed.", study.study_name)
            return
        log.info("Best trial %d: value %.5f, params %s", best.number, best.value, best.params)
