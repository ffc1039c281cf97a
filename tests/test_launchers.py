"""Sweeps beyond one process: submitit (SLURM's tested stand-in, `submitit_local`) and the project's SLURM config."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir

from helpers import CONF_DIR, run_cli
from test_sweeps import SMALL, optuna_args, report, runs_by_role


def test_the_slurm_launcher_comes_configured_for_one_training_run_per_task() -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.cpus_per_task, launcher.tasks_per_node) == ("gpu", 8, 1)
    assert launcher.timeout_min == 240 and launcher.array_parallelism == 16


def _submitit_jobs(workdir: Path) -> list[str]:
    """The job ids submitit gave (for the local executor, each job's own process id)."""
    return sorted(p.name for p in workdir.glob("outputs/multirun/*/*/.submitit/*") if p.name.isdigit())


@pytest.mark.e2e
def test_a_sweep_through_submitit_runs_each_job_in_its_own_process_under_one_parent(data_dir: Path, tmp_path: Path) -> None:
    args = ["-m", *SMALL, "epochs=2", "hydra/launcher=submitit_local", "model.dense_dropout=0.2,0.4"]
    result = run_cli("digit_experiments.train", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(_submitit_jobs(tmp_path)) == 2, "one submitit job, so one process, per sweep job"
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (parent,), children = runs_by_role(store)
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    csv = report(store, parent.info.run_id)
    assert all(child.info.run_id in csv for child in children), "the sweep report lists both jobs"


@pytest.mark.e2e
def test_an_optuna_search_through_submitit(data_dir: Path, tmp_path: Path) -> None:
    """``hydra.sweeper.n_jobs=2`` submits both trials at once, as a cluster's search would submit many."""
    storage = f"sqlite:///{tmp_path}/study.db"
    overrides = ["epochs=2", "hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2"]
    result = run_cli("digit_experiments.train", optuna_args(storage, 2, overrides), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="dropout_l2", storage=storage)
    assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)
    assert len(_submitit_jobs(tmp_path)) == 2
    (parent,), children = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert sorted(c.data.tags["trial.number"] for c in children) == ["0", "1"]
    first, second = sorted(children, key=lambda child: child.info.start_time)
    assert second.info.start_time < first.info.end_time, "the two trials ran at once"
