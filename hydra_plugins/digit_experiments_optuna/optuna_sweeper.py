"""An Optuna sweeper for Hydra built on a current Optuna (4.x/5.x) and its ask-and-tell API.

``hydra-optuna-sweeper`` 1.3 pins Optuna 2.10, whose database storage fails
with the SQLAlchemy 2 that MLflow needs; this sweeper replaces it. Trials are
asked from a study kept in a database (SQLite by default; PostgreSQL for a
cluster), so an interrupted search resumes where it stopped and several
workers, on one machine or many, can share one search. Each trial runs as one
Hydra job through the configured launcher; the job reopens its trial to
report per-epoch values for pruning (:mod:`digit_experiments.hpo.pruning`).

Search spaces are written in ``conf/hparams_search/*.yaml`` as::

    hydra:
      sweeper:
        params:
          model.dense_dropout: {type: float, low: 0.2, high: 0.6}
          model.l2: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
          batch_size: {type: categorical, choices: [128, 256, 384]}
"""

# No `from __future__ import annotations`: Hydra's plugin scanner executes this module outside
# sys.modules, where dataclasses cannot resolve string annotations.
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import optuna
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from digit_experiments.hpo.pruning import PRUNER_ATTR, build_pruner, open_storage

log = logging.getLogger(__name__)

#: Trial states that count towards ``n_trials`` (RUNNING: taken by a worker, maybe another one).
COUNTED_STATES = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
    optuna.trial.TrialState.RUNNING,
)


@dataclass
class DigitOptunaSweeperConf:
    """Settings of ``hydra/sweeper=digit_optuna`` (set them in an ``hparams_search`` config)."""

    _target_: str = "hydra_plugins.digit_experiments_optuna.optuna_sweeper.DigitOptunaSweeper"
    study_name: str = "digits"
    #: SQLAlchemy URL of the study database; shared by every worker of a search.
    storage: str = "sqlite:///outputs/optuna/digits.db"
    direction: str = "maximize"
    #: Total trials of the study, counted over all workers and resumed sessions.
    n_trials: int = 10
    sampler_seed: int = 42
    pruner: Dict[str, Any] = field(default_factory=lambda: {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1})
    params: Dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="digit_optuna", node=DigitOptunaSweeperConf, provider="digit_experiments")


def distribution(name: str, spec: Dict[str, Any]) -> "optuna.distributions.BaseDistribution":
    """An Optuna distribution from ``{type: float|int|categorical, ...}``."""
    kind = spec.get("type")
    if kind == "float":
        return optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step"))
    if kind == "int":
        return optuna.distributions.IntDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1))
    if kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(spec["choices"]))
    raise ValueError(
        f"Search parameter {name!r} has type {kind!r}; use float (low, high, log), int (low, high) "
        "or categorical (choices) in hydra.sweeper.params."
    )


class DigitOptunaSweeper(Sweeper):
    """Runs Optuna trials as Hydra jobs until the study holds ``n_trials`` trials."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.distributions = {name: distribution(name, dict(spec)) for name, spec in settings["params"].items()}
        if not self.distributions:
            raise ValueError("hydra.sweeper.params is empty: pick a search space with hparams_search=<name>.")

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _study(self) -> "optuna.Study":
        pruner_spec = dict(self.settings["pruner"])
        study = optuna.create_study(
            study_name=self.settings["study_name"],
            storage=open_storage(self.settings["storage"]),
            sampler=optuna.samplers.TPESampler(seed=self.settings["sampler_seed"]),
            pruner=build_pruner(pruner_spec),
            direction=self.settings["direction"],
            load_if_exists=True,
        )
        study.set_user_attr(PRUNER_ATTR, pruner_spec)  # the jobs rebuild the same pruner from it
        return study

    def sweep(self, arguments: List[str]) -> List[Any]:
        """Ask, run and tell trials until the study is complete; return the job results."""
        study = self._study()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        results, job_index = [], 0
        while len(study.get_trials(deepcopy=False, states=COUNTED_STATES)) < self.settings["n_trials"]:
            trial = study.ask(self.distributions)
            overrides = [
                *arguments,
                *(f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}" for name, value in trial.params.items()),
                f"+optuna.storage={self.settings['storage']}",
                f"+optuna.study_name={self.settings['study_name']}",
                f"+optuna.trial_id={trial._trial_id}",  # Optuna has no public id lookup across processes
                f"+optuna.trial_number={trial.number}",
            ]
            log.info("Trial %d: %s", trial.number, " ".join(f"{k}={v}" for k, v in trial.params.items()))
            try:
                (job,) = self.launcher.launch([overrides], initial_job_idx=job_index)
            except BaseException:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            job_index += 1
            results.append(job)
            self._tell(study, trial, job)
        self._log_best(study)
        return results

    @staticmethod
    def _tell(study: "optuna.Study", trial: "optuna.Trial", job: Any) -> None:
        """Record a finished job's outcome in the study: value, pruned or failed."""
        outcome = job._return_value
        if isinstance(outcome, optuna.TrialPruned):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif isinstance(outcome, (int, float)) and math.isfinite(outcome):
            study.tell(trial, float(outcome))
        else:
            log.warning("Trial %d failed: %s", trial.number, outcome)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    @staticmethod
    def _log_best(study: "optuna.Study") -> None:
        try:
            best = study.best_trial
        except ValueError:
            log.warning("No trial of study %s completed.", study.study_name)
            return
        log.info("Best trial %d: value %.5f, params %s", best.number, best.value, best.params)
