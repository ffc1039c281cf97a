"""Sweeps through the real CLI: grid multirun, a failing job, Optuna with pruning and resume,
the joblib launcher, and two workers sharing one study and one MLflow server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest

from digit_experiments.hpo.storage import open_storage
from helpers import MlflowServer, closed_port, command_environment, run_cli

pytestmark = pytest.mark.e2e

#: Tiny, fast jobs: a few hundred images, no augmentation, no model logging.
SMALL = [
    "experiment=smoke", "model=tiny", "augment=none", "dataset.max_train_images=300",
    "dataset.max_test_images_per_source=100", "trainer.verbose=0", "tracking.log_model=false",
]


def runs_by_role(store: str) -> tuple[list, list]:
    """(parent runs, child runs) of the default experiment in ``store``."""
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("digit_experiments")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep.role") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def report(store: str, parent_id: str) -> str:
    return Path(mlflow.MlflowClient(store).download_artifacts(parent_id, "report/sweep_report.csv")).read_text()


def test_grid_sweep_nests_jobs_and_reports_failures(data_dir: Path, tmp_path: Path) -> None:
    """A job that diverges, and two that a config mistake stops before training, are FAILED rows like any other."""
    args = ["-m", *SMALL, "optimizer.clipnorm=null", "model.dense_dropout=0.3,1.5", "optimizer.learning_rate=1e-3,1e30"]
    result = run_cli("digit_experiments.train", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sweep finished: 4 jobs, 3 failed" in result.stdout + result.stderr
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (parent,), children = runs_by_role(store)
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    failed = {c.data.params["model.dense_dropout"] + "," + c.data.params["optimizer.learning_rate"]: c
              for c in children if c.info.status == "FAILED"}
    assert sorted(failed) == ["0.3,1e+30", "1.5,0.001", "1.5,1e+30"]
    assert failed["0.3,1e+30"].data.tags["failure_reason"].startswith("TrainingDiverged")
    assert "Invalid value for `model.dense_dropout`" in failed["1.5,0.001"].data.tags["failure_reason"]
    assert parent.info.status == "FINISHED"
    csv_lines = report(store, parent.info.run_id).strip().splitlines()
    header = csv_lines[0].split(",")
    assert header[2:4] == ["model.dense_dropout", "optimizer.learning_rate"], "only the swept keys, not what training adds"
    assert "best_val_loss" in header
    assert len(csv_lines) == 1 + 4
    assert sum(",FAILED," in line for line in csv_lines) == 3
    best = parent.data.tags["best_run_id"]
    assert best in csv_lines[1], "the report is sorted best first"
    artifacts = {f.path for f in mlflow.MlflowClient(store).list_artifacts(parent.info.run_id, "report")}
    assert {"report/sweep_report.csv", "report/sweep_report.md", "report/sweep_plot.png"} <= artifacts


def test_sweep_stops_when_its_parent_run_cannot_be_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra only warns when a callback raises; the sweep must not go on with un-nested jobs."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    unreachable = f"http://127.0.0.1:{closed_port()}"
    result = run_cli("digit_experiments.train", ["-m", *SMALL, f"tracking.uri={unreachable}", "model.dense_dropout=0.3,0.5"], cwd=tmp_path)
    assert result.returncode != 0
    assert "could not open its MLflow parent run" in result.stderr and f"tracking store ({unreachable}" in result.stderr
    assert "Launching 2 jobs" not in result.stdout + result.stderr, "no job may start without its parent run"


@pytest.mark.parametrize(("overrides", "message"), [
    (["hydra.sweeper.pruner.name=bogus"], "Unknown pruner 'bogus'"),
    (["hydra.sweeper.heartbeat_interval=60", "hydra.sweeper.stale_after=60"], "so stale_after must be longer"),
    (["hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs=0: a worker runs at least one trial at a time"),
], ids=["pruner", "heartbeat", "n_jobs"])
def test_a_sweep_that_dies_after_opening_its_parent_run_ends_it_failed(tmp_path: Path, overrides: list[str], message: str) -> None:
    """Hydra calls no callback when a sweeper or launcher raises; the parent run must not stay RUNNING."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    args = ["-m", *SMALL, "hparams_search=dropout_l2", f"hydra.sweeper.storage={storage}", *overrides]
    result = run_cli("digit_experiments.train", args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Could not read which trials" not in result.stderr, "the refusal is told once"
    (parent,), children = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert parent.info.status == "FAILED" and not children
    assert "stopped before its end" in parent.data.tags["failure_reason"]


def optuna_args(storage: str, n_trials: int, extra: list[str] | None = None) -> list[str]:
    return [
        "-m", "hparams_search=dropout_l2", *SMALL, "epochs=4",
        f"hydra.sweeper.storage={storage}", f"hydra.sweeper.n_trials={n_trials}",
        *(extra or []),
    ]


def test_optuna_search_prunes_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    prune_everything = [  # a threshold no tiny model reaches: every trial is pruned after epoch 2
        "hydra.sweeper.pruner.name=threshold", "+hydra.sweeper.pruner.lower=0.999",
        "~hydra.sweeper.pruner.n_startup_trials", "hydra.sweeper.pruner.n_warmup_steps=1",
    ]
    first = run_cli("digit_experiments.train", optuna_args(storage, 2, prune_everything), cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    study = optuna.load_study(study_name="dropout_l2", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2

    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    _, children = runs_by_role(store)
    assert {c.data.tags["trial.state"] for c in children} == {"PRUNED"}
    assert all(c.data.metrics["epochs_trained"] == 2 for c in children), "pruned after epoch 2 of 4"

    again = run_cli("digit_experiments.train", optuna_args(storage, 3), cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="dropout_l2", storage=storage)
    assert len(study.trials) == 3, "the resumed search ran only the missing trial"
    assert study.trials[2].state == optuna.trial.TrialState.COMPLETE
    parents, children = runs_by_role(store)
    assert len(parents) == 1 and len(children) == 3, "a resumed search stays under its parent run"
    assert sorted(c.data.tags["trial.number"] for c in children) == ["0", "1", "2"]
    assert "with other overrides" not in again.stdout + again.stderr, "the sweeper's own settings (the pruner) may change"


def test_an_optuna_search_goes_the_way_optimized_metric_is_selected(data_dir: Path, tmp_path: Path) -> None:
    """``optimized_metric=val_loss`` kept the search space's ``direction: maximize``: TPE looked for the worst models."""
    storage = f"sqlite:///{tmp_path}/study.db"
    contradiction = run_cli("digit_experiments.train", optuna_args(storage, 1, ["hydra.sweeper.direction=maximise"]), cwd=tmp_path)
    assert contradiction.returncode == 2 and "hydra.sweeper.direction='maximise' is not a study direction" in contradiction.stderr
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "study.db").exists(), "refused before any store is opened"

    by_loss = run_cli("digit_experiments.train", optuna_args(storage, 1, ["optimized_metric=val_loss"]), cwd=tmp_path, timeout=600)
    assert by_loss.returncode == 0, by_loss.stderr[-3000:]
    study = optuna.load_study(study_name="dropout_l2", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    _, (child,) = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert study.trials[0].value == pytest.approx(child.data.metrics["best_val_loss"])

    other_way = run_cli("digit_experiments.train", optuna_args(storage, 2), cwd=tmp_path, timeout=600)
    assert other_way.returncode == 2, other_way.stderr[-3000:]
    assert "Optuna study 'dropout_l2' was created to minimize its trials' values, and this search would maximize" in other_way.stderr
    assert len(optuna.load_study(study_name="dropout_l2", storage=storage).trials) == 1

    other_options = run_cli("digit_experiments.train", optuna_args(storage, 2, ["optimized_metric=val_loss", "model.l2=1e-4"]),
                            cwd=tmp_path, timeout=600)
    assert other_options.returncode == 0, other_options.stderr[-3000:]
    assert "with other overrides than it started with (only now: model.l2=1e-4)" in other_options.stdout + other_options.stderr


def test_an_optuna_search_whose_jobs_all_fail_counts_them_and_ends(data_dir: Path, tmp_path: Path) -> None:
    """A failed job is its configuration's outcome: it counts towards ``n_trials``, so the search ends."""
    storage = f"sqlite:///{tmp_path}/study.db"
    diverging = ["optimizer.weight_decay=1e30"]  # every trial's loss overflows at its first batch (the learning rate is searched)
    result = run_cli("digit_experiments.train", optuna_args(storage, 2, diverging), cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Error: Every one of the sweep's 2 jobs failed, so the sweep has no result" in result.stderr
    logs = result.stdout + result.stderr
    assert "Trial 2:" not in logs
    assert "Trial 1 failed; its job's MLflow run is FAILED, with the reason in failure_reason." in logs, logs[-3000:]
    trials = optuna.load_study(study_name="dropout_l2", storage=storage).trials
    assert [(t.state, t.user_attrs.get("job_failed")) for t in trials] == [(optuna.trial.TrialState.FAIL, True)] * 2
    (parent,), children = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert [c.info.status for c in children] == ["FAILED"] * 2
    assert parent.info.status == "FAILED", "a search whose every job failed ends its parent FAILED"


def test_an_optuna_search_takes_sweeps_and_fixed_values_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    """``model.l2=1e-4`` was silently replaced by the sampled L2, and ``epochs=1,2`` reached the job as Hydra's
    "Ambiguous value" error; as with Hydra's Optuna sweeper, the first fixes a searched key and the second is searched."""
    storage = f"sqlite:///{tmp_path}/study.db"
    result = run_cli("digit_experiments.train", optuna_args(storage, 1, ["model.l2=1e-4", "epochs=1,2"]), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (trial,) = optuna.load_study(study_name="dropout_l2", storage=storage).trials
    assert "model.l2" not in trial.params and trial.params["epochs"] in (1, 2)
    _, (child,) = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert child.info.status == "FINISHED"
    assert float(child.data.params["model.l2"]) == 1e-4 and child.data.params["epochs"] == str(trial.params["epochs"])


def test_an_optuna_search_under_the_joblib_launcher_runs_its_trials_side_by_side(data_dir: Path, tmp_path: Path) -> None:
    """Under ``hydra/launcher=joblib hydra.launcher.n_jobs=2`` a search ran one trial at a time, each on half the cores."""
    storage = f"sqlite:///{tmp_path}/study.db"
    args = optuna_args(storage, 2, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    result = run_cli("digit_experiments.train", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (parent,), children = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    first, second = sorted(children, key=lambda child: child.info.start_time)
    assert second.info.start_time < first.info.end_time, "the two trials ran at once"
    assert {c.data.params["trainer.threads"] for c in children} == {str(max(1, (os.cpu_count() or 1) // 2))}
    assert [c.info.status for c in children] == ["FINISHED"] * 2 and parent.info.status == "FINISHED"
    states = {t.state for t in optuna.load_study(study_name="dropout_l2", storage=storage).trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}


def test_joblib_launcher_runs_jobs_in_parallel_without_losing_records(data_dir: Path, tmp_path: Path) -> None:
    default_verbosity = [arg for arg in SMALL if not arg.startswith("trainer.verbose=")]
    never_improving = ["+callbacks.early_stopping.baseline=0", "+callbacks.reduce_lr_on_plateau.min_delta=100"]
    args = [
        "-m", *default_verbosity, "epochs=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.dense_dropout=0.2,0.4",
        "callbacks.early_stopping.patience=0", "callbacks.reduce_lr_on_plateau.patience=0", *never_improving,
    ]
    result = run_cli("digit_experiments.train", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (parent,), children = runs_by_role(store)
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.params["trainer.threads"] for c in children} == {str(max(1, (os.cpu_count() or 1) // 2))}
    assert {c.data.params["trainer.verbose"] for c in children} == {"log"}, "parallel jobs log one line per epoch"
    output = result.stdout + result.stderr
    for job in (0, 1):
        assert output.count(f"] - job {job}: Epoch 2/2: ") == 1, "labelled with their job"
    assert "━" not in output and "\nEpoch 1/2" not in output, "and draw no progress bars or unlabelled lines over each other"
    for job in (0, 1):
        for keras_message in ("Epoch 2: ReduceLROnPlateau reducing", "Restoring model weights from the end of the best epoch"):
            assert output.count(f"] - job {job}: {keras_message}") == 1, f"Keras's callbacks' lines are labelled too: {keras_message}"
    assert "\nRestoring model weights" not in output and "\nEpoch 2: ReduceLROnPlateau" not in output
    train_logs = sorted((tmp_path / "outputs" / "multirun").rglob("train.log"))
    assert len(train_logs) == 2 and all("Restoring model weights" in log.read_text() for log in train_logs), "and kept in each job's train.log"
    client = mlflow.MlflowClient(store)
    for child in children:
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [0, 1]
        assert "test_accuracy" in child.data.metrics


def test_ctrl_c_on_a_parallel_sweep_ends_every_run_killed_in_one_paragraph(data_dir: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches joblib's workers too, and joblib terminates them: a job run was left RUNNING for good, another
    ended FAILED with the TypeError TensorFlow turned the interrupt into, and the sweep printed Python's traceback."""
    args = ["-m", *SMALL, "epochs=30", "trainer.verbose=log", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            "model.dense_dropout=0.2,0.4"]
    log = tmp_path / "sweep.log"
    with open(log, "w") as output:
        sweep = subprocess.Popen([sys.executable, "-m", "digit_experiments.train", *args], cwd=tmp_path, env=command_environment(),
                                 stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not all(f"job {job}: Epoch 2/30" in log.read_text() for job in (0, 1)):
        assert sweep.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    assert sweep.wait(120) == 128 + signal.SIGINT
    text = log.read_text()
    assert "Interrupted (Ctrl-C). The sweep's parent run and the jobs it was running are KILLED" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    (parent,), children = runs_by_role(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert parent.info.status == "KILLED" and [c.info.status for c in children] == ["KILLED", "KILLED"], [
        (c.info.status, c.data.tags.get("failure_reason")) for c in children]


#: (study storage, tracking store) of the two-worker search: one worker machine's SQLite files, a
#: shared PostgreSQL for both, and Optuna's journal file on a shared filesystem.
BACKENDS = [("sqlite", "sqlite"), ("postgresql", "postgresql"), ("journal", "sqlite")]


def _stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(Optuna storage, MLflow backend store or None for the server's SQLite file) for ``kind``."""
    if kind == "postgresql":
        cluster = request.getfixturevalue("postgres")
        return cluster.database("study"), cluster.database("tracking")
    if kind == "journal":
        return f"journal:{tmp_path}/shared/study.log", None
    return f"sqlite:///{tmp_path}/shared-study.db", None


@pytest.mark.parametrize(("study_store", "tracking_store"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_two_workers_share_one_study_and_one_tracking_server(
    data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest, study_store: str, tracking_store: str
) -> None:
    storage, backend = _stores(study_store, tmp_path, request)
    server = MlflowServer(tmp_path, backend).start()
    try:
        _two_workers(storage, server.url, tmp_path)
    finally:
        server.stop()


def _two_workers(storage: str, tracking_url: str, tmp_path: Path) -> None:
    """Two workers started together share a 4-trial search; check the study and the runs lose nothing."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "digit_experiments.train", *optuna_args(storage, 4, ["epochs=2"])]
    workers = []
    for index in range(2):  # started together: they race to create the study and the parent run
        workdir = tmp_path / f"worker{index}"
        workdir.mkdir()
        workers.append(subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [w.communicate(timeout=900)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]

    study = optuna.load_study(study_name="dropout_l2", storage=open_storage(storage))
    logs = "\n".join(f"--- worker {i} ---\n{out[-4000:]}" for i, out in enumerate(outputs))
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3], "no trial is run twice and none is lost"
    assert {t.state for t in study.trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}, logs
    parents, children = runs_by_role(tracking_url)
    assert sorted(c.data.tags["trial.number"] for c in children) == ["0", "1", "2", "3"], logs
    assert len(parents) == 1 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert parents[0].info.status == "FINISHED", "the last worker to stop ended the parent run"
    assert study.user_attrs["mlflow_parent_run_id"] == parents[0].info.run_id
    client = mlflow.MlflowClient(tracking_url)
    for child in children:
        trained = int(child.data.metrics["epochs_trained"])
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == list(range(trained)), "no metric is lost"


#: Seconds of silence after which the test's workers take a trial for dead: beats come every second,
#: and a loaded CI machine may delay one by a few seconds (SQLite locks), never by five.
STALE_AFTER = 5


def test_a_shared_searchs_parent_run_waits_for_live_workers_and_not_for_dead_ones(data_dir: Path, tmp_path: Path) -> None:
    """Four workers of one search of three trials. The test process beats for trial 0 (a live
    worker); worker A is killed with SIGKILL during trial 1. Worker B fails trial 1, silent for
    longer than ``stale_after``, runs trial 2 and trial 3 in trial 1's place, and stops while trial
    0 still beats, so the parent stays RUNNING. Then trial 0 falls silent too, and worker C fails
    it, runs trial 4 in its place and ends the parent: three outcomes, as asked."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    from digit_experiments.hpo.storage import Heartbeat

    storage, store = f"sqlite:///{tmp_path}/study.db", f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    command = [sys.executable, "-m", "digit_experiments.train",
               *optuna_args(storage, 3, ["hydra.sweeper.heartbeat_interval=1", f"hydra.sweeper.stale_after={STALE_AFTER}"])]
    study = optuna.create_study(study_name="dropout_l2", storage=open_storage(storage, Heartbeat(1, STALE_AFTER)),
                                direction="maximize")
    with pytest.warns(UserWarning, match="Heartbeat of storage"):
        live_trial = study.ask()
    with get_heartbeat_thread(live_trial._trial_id, study._storage):
        killed = _start_worker(command, tmp_path, "A")
        _wait_for_line(tmp_path / "A.log", "Trial 1:", killed)
        _wait_for_child_run(store, "1", killed, tmp_path / "A.log")  # the job has started its MLflow run
        killed.kill()
        killed.wait(timeout=30)

        second = subprocess.run(command, cwd=tmp_path, env=command_environment(), capture_output=True, text=True, timeout=600)
        assert second.returncode == 0, second.stderr[-3000:]
        logs = second.stdout + second.stderr
        assert f"Trial 1 of study dropout_l2 had no heartbeat for over {STALE_AFTER} s: its worker is gone" in logs, logs[-3000:]
        assert f"other workers still run trials {live_trial.number}, so the parent run" in logs, logs[-3000:]
        (parent,), children = runs_by_role(store)
        assert parent.info.status == "RUNNING"
        assert "Trial 3:" in logs, "a dead worker's trial is replaced"
        (dead_run,) = [c for c in children if c.data.tags["trial.number"] == "1"]
        assert dead_run.info.status == "FAILED" and dead_run.data.tags["trial.state"] == "FAIL", "nothing else would end it"
        assert "its worker stopped sending heartbeats" in dead_run.data.tags["failure_reason"]

    time.sleep(STALE_AFTER + 1)  # the test's own worker is gone too
    last = subprocess.run(command, cwd=tmp_path, env=command_environment(), capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, last.stderr[-3000:]
    assert f"Trial 0 of study dropout_l2 had no heartbeat for over {STALE_AFTER} s" in last.stdout + last.stderr
    (parent,), children = runs_by_role(store)
    assert parent.info.status == "FINISHED", last.stderr[-3000:]
    statuses = {c.data.tags["trial.number"]: c.info.status for c in children}
    assert [statuses.get(number) for number in ("2", "3", "4")] == ["FINISHED"] * 3, statuses
    states = [trial.state for trial in optuna.load_study(study_name="dropout_l2", storage=storage).trials]
    assert states == [optuna.trial.TrialState.FAIL] * 2 + [optuna.trial.TrialState.COMPLETE] * 3, "each dead trial is replaced"


def _start_worker(command: list[str], cwd: Path, name: str) -> subprocess.Popen:
    """Start a sweep worker whose output goes to ``<cwd>/<name>.log``."""
    with (cwd / f"{name}.log").open("w") as output:
        return subprocess.Popen(command, cwd=cwd, env=command_environment(), stdout=output, stderr=subprocess.STDOUT)


def _wait_for_child_run(store: str, trial_number: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait until the job run of trial ``trial_number`` is in ``store``; fail with the log if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not any(c.data.tags.get("trial.number") == trial_number for c in runs_by_role(store)[1]):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until ``text`` appears in ``log``; fail with the log if ``process`` ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
