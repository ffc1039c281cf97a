"""Settings of the Optuna sweeper (``hydra/sweeper=digit_optuna``), registered in Hydra's ConfigStore.

Hydra imports this module while it scans ``hydra_plugins/`` at the start of
every command, ``--help`` included, so it imports Hydra's config store and
nothing else: no Optuna, MLflow or TensorFlow.
"""

# No `from __future__ import annotations`: Hydra's plugin scanner executes this module outside
# sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


def _default_pruner() -> Dict[str, Any]:
    """Median pruning after 2 trials and 1 epoch. ``type`` is the former spelling of ``name``:
    present (null) so that ``hydra.sweeper.pruner.type=<name>`` still overrides without a ``+``.
    A pruner picked instead that does not take these options runs without them
    (:func:`digit_experiments.hpo.pruners.checked_pruner_spec`)."""
    return {"name": "median", "type": None, "n_startup_trials": 2, "n_warmup_steps": 1}


@dataclass
class DigitOptunaSweeperConf:
    """Settings of ``hydra/sweeper=digit_optuna`` (set them in an ``hparams_search`` config)."""

    _target_: str = "hydra_plugins.digit_experiments_optuna.optuna_sweeper.DigitOptunaSweeper"
    study_name: str = "digits"
    #: SQLAlchemy URL of the study database; shared by every worker of a search.
    storage: str = "sqlite:///outputs/optuna/digits.db"
    #: ``minimize`` or ``maximize``; null follows ``optimized_metric`` (and ``optimized_mode``), which a
    #: direction given here must agree with (:func:`digit_experiments.hpo.study_settings.study_direction`).
    direction: Optional[str] = None
    #: Total trials of the study, counted over all workers and resumed sessions: those with an outcome
    #: (a value, pruned, or the job failed) and those running. An interrupted trial, or one whose
    #: worker died, does not count; another is run in its place.
    n_trials: int = 10
    #: Trials a worker runs at once, as one batch of its launcher's jobs. null: as many as the joblib
    #: launcher runs at once (``hydra.launcher.n_jobs``), else 1.
    n_jobs: Optional[int] = None
    #: TPE's seed, combined with each trial's number: the same command on a new study draws the
    #: same trials, while workers sharing a study and resumed sessions each draw their own.
    sampler_seed: int = 42
    #: Seconds between the heartbeats a worker records for the trial it runs (database storages).
    heartbeat_interval: int = 60
    #: Seconds without a heartbeat after which a RUNNING trial's worker is taken for dead: the trial is
    #: marked FAIL, and a shared search's parent run no longer waits for it.
    stale_after: int = 300
    #: ``name`` (see :data:`digit_experiments.hpo.pruners.PRUNERS`) and the pruner's arguments.
    pruner: Dict[str, Any] = field(default_factory=_default_pruner)
    #: The search space: ``<config key>: {type: float|int|categorical, ...}``.
    params: Dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="digit_optuna", node=DigitOptunaSweeperConf, provider="digit_experiments")
