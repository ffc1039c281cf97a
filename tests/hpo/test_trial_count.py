"""Which trials of a real SQLite study count towards ``n_trials``: those with an outcome, and those running."""

from __future__ import annotations

from pathlib import Path

import optuna
from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.digit_experiments_optuna._impl import JOB_FAILED_ATTR, DigitOptunaSweeperImpl, counted_trials


def test_a_trial_counts_when_its_job_gave_an_outcome_or_runs_and_not_when_it_was_cut_short(tmp_path: Path) -> None:
    """A failed job is its configuration's outcome and counts, or a search whose every job fails would never end;
    an interrupted trial, or one whose worker died, has none and is replaced."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/study.db", direction="maximize")
    outcomes = {"complete": 0.98, "pruned": optuna.TrialPruned("after epoch 2"), "job failed": float("nan")}
    for outcome in outcomes.values():
        DigitOptunaSweeperImpl._tell(study, study.ask(), JobReturn(status=JobStatus.COMPLETED, _return_value=outcome))
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # what the sweeper tells for a trial Ctrl-C stopped
    study.ask()  # a trial a worker runs

    states = [(trial.state.name, JOB_FAILED_ATTR in trial.user_attrs) for trial in study.trials]
    assert states == [("COMPLETE", False), ("PRUNED", False), ("FAIL", True), ("FAIL", False), ("RUNNING", False)]
    assert counted_trials(study) == 4
