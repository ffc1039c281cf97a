"""Workers of a shared search beat for the trials they run; a dead worker's trial is failed, not waited for.

On a real SQLite study: the heartbeat thread is Optuna's own, as the sweeper runs it around each job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages._heartbeat import get_heartbeat_thread

from digit_experiments.hpo.storage import Heartbeat, fail_abandoned_trials, open_storage, trial_numbers, watched_study

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the sweeper asks and beats itself, as here

#: Short enough for a test: a beat every second, dead after two seconds without one.
QUICK = Heartbeat(interval=1, stale_after=2)


def running_trials(study: optuna.Study | None) -> list[int]:
    """The trials a live worker still runs, as a worker that watches the study sees them."""
    return trial_numbers(study, optuna.trial.TrialState.RUNNING)


def test_a_beating_trial_is_running_and_a_silent_one_is_failed_after_stale_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="search", storage=open_storage(storage, QUICK))
    alive, dead = study.ask(), study.ask()
    dead_beats = get_heartbeat_thread(dead._trial_id, study._storage)
    with get_heartbeat_thread(alive._trial_id, study._storage):
        dead_beats.start()
        time.sleep(QUICK.stale_after + 1)  # both beat through a whole grace period: neither is taken for dead
        assert running_trials(watched_study(storage, "search", QUICK)) == [alive.number, dead.number]
        dead_beats.join()  # the worker of `dead` is gone without telling its trial's end
        time.sleep(QUICK.stale_after + 1.5)
        with caplog.at_level(logging.WARNING, logger="digit_experiments.hpo.storage"):
            assert running_trials(watched_study(storage, "search", QUICK)) == [alive.number]

    states = {trial.number: trial.state for trial in optuna.load_study(study_name="search", storage=storage).trials}
    assert states == {alive.number: optuna.trial.TrialState.RUNNING, dead.number: optuna.trial.TrialState.FAIL}
    assert f"Trial {dead.number} of study search had no heartbeat for over 2 s: its worker is gone" in caplog.text


def test_a_storage_opened_without_heartbeats_fails_nothing(tmp_path: Path) -> None:
    """A job opens the storage only to report to its trial: it never fails another worker's trial."""
    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="search", storage=open_storage(storage, QUICK))
    silent = study.ask()
    with get_heartbeat_thread(silent._trial_id, study._storage):
        pass  # one beat, then silence
    time.sleep(QUICK.stale_after + 1.5)
    job_view = optuna.load_study(study_name="search", storage=open_storage(storage))
    fail_abandoned_trials(job_view)
    assert job_view.trials[silent.number].state == optuna.trial.TrialState.RUNNING


def test_a_journal_file_without_heartbeats_waits_for_no_trial(tmp_path: Path) -> None:
    """Its live and dead workers' trials look alike: each worker ends the parent as if it were the last."""
    storage = f"journal:{tmp_path}/study.log"
    study = optuna.create_study(study_name="search", storage=open_storage(storage, QUICK))
    study.ask()
    assert running_trials(watched_study(storage, "search", QUICK)) == []
    assert optuna.load_study(study_name="search", storage=open_storage(storage)).trials[0].state == optuna.trial.TrialState.RUNNING
