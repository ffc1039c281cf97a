"""A sweep's MLflow parent run: the one run every job of a multirun nests under.

A grid sweep creates its own parent run. An Optuna search may be shared by
several workers and resumed later, and all of its trials must still nest under
one parent: the study database, which every worker opens anyway, records the
parent's id as a study user attribute (:data:`PARENT_RUN_ATTR`), and the
atomic creation of the study decides which worker creates the parent run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import mlflow
import optuna
from mlflow.entities import RunStatus
from omegaconf import DictConfig, OmegaConf

from digit_experiments import tracking
from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.report import child_runs
from digit_experiments.hpo.storage import Heartbeat, open_storage, trial_numbers, watched_study
from digit_experiments.hpo.study_settings import study_direction
from digit_experiments.training.selection import resolve_mode

log = logging.getLogger(__name__)

#: Optuna study user attribute holding the id of the search's MLflow parent run.
PARENT_RUN_ATTR = "mlflow_parent_run_id"
#: How long a worker waits for another worker that is creating the study's parent run.
PARENT_WAIT_SECONDS = 60.0


def sweep_id(config: DictConfig) -> str:
    """What identifies one sweep: the Optuna study (shared by workers) or the sweep directory.

    Args:
        config: The multirun's config (with its ``hydra`` node).

    Returns:
        ``optuna:<study name>`` or ``grid:<absolute sweep directory>``; the parent run's ``sweep.id`` tag.
    """
    sweeper = config.hydra.sweeper
    if "study_name" in sweeper and sweeper.study_name:
        return f"optuna:{sweeper.study_name}"
    return f"grid:{Path(config.hydra.sweep.dir).absolute()}"


def tracking_client(config: DictConfig) -> tuple[mlflow.MlflowClient, str]:
    """A client on the run config's tracking store, and the experiment's id.

    Args:
        config: A run config with its ``tracking`` node.

    Returns:
        The client and the id of the configured experiment (created if needed).
    """
    tracking_config = OmegaConf.to_container(config.tracking, resolve=True)
    experiment_id = tracking.use_experiment(tracking_config)
    return mlflow.MlflowClient(tracking.tracking_uri(tracking_config["uri"])), experiment_id


def open_parent_run(config: DictConfig) -> str:
    """Create the sweep's parent run; an Optuna search reuses its study's one (see :func:`_study_parent_run`).

    Args:
        config: The multirun's config.

    Returns:
        The parent run's id; the run is RUNNING.
    """
    client, experiment_id = tracking_client(config)
    if sweep_id(config).startswith("optuna:"):
        return _study_parent_run(config, client, experiment_id)
    return _create_parent_run(config, client, experiment_id)


def watched_search(config: DictConfig) -> optuna.Study | None:
    """This worker's Optuna study with the trials of dead workers failed (see :func:`~.storage.watched_study`).

    A shared search's parent run is ended by the last worker to stop: one that
    stops while other live workers run trials leaves it RUNNING. Trials whose
    worker died (no heartbeat for ``hydra.sweeper.stale_after`` seconds) are
    marked FAIL here and not waited for.

    Args:
        config: The multirun's config.

    Returns:
        The study; None for a grid sweep, a journal file, or a study storage that cannot be read,
        which waits for no one.
    """
    if not sweep_id(config).startswith("optuna:"):
        return None
    sweeper = config.hydra.sweeper
    try:
        heartbeat = Heartbeat.of_sweeper(sweeper)
    except ConfigError:  # the sweeper refuses these settings itself, in one paragraph
        return None
    try:
        return watched_study(sweeper.storage, sweeper.study_name, heartbeat)
    except Exception as error:  # the storage may be what stopped this worker
        log.warning("Could not read which trials other workers still run (%s): ending the parent run.", error)
        return None


def trials_of_other_workers(study: optuna.Study | None) -> list[int]:
    """The trials that other, live workers still run in a study from :func:`watched_search`."""
    return trial_numbers(study, optuna.trial.TrialState.RUNNING)


def end_runs_left_running(
    client: mlflow.MlflowClient, parent_id: str, sweep_dir: str, status: int, reason: str
) -> list[tuple[str, str]]:
    """End the job runs of this sweep process that are still RUNNING once the sweep itself has stopped.

    Under the joblib launcher, Ctrl-C reaches the workers too, and joblib then
    terminates them; a worker stopped before it could end its job's run left
    that run RUNNING for good. Only runs whose output folder lies in this
    sweep's folder are ended: other workers of a shared Optuna search keep theirs.

    Args:
        client: A client on the sweep's tracking store.
        parent_id: The sweep's parent run.
        sweep_dir: This sweep's ``hydra.sweep.dir``.
        status: A :class:`~mlflow.entities.RunStatus` to end them with: KILLED when the sweep was interrupted.
        reason: Their ``failure_reason`` tag.

    Returns:
        The runs it ended: (run id, output folder) each.
    """
    folder = Path(sweep_dir).absolute()
    ended = []
    for run in child_runs(client, parent_id):
        output_dir = run.data.tags.get(tracking.OUTPUT_DIR_TAG)
        if run.info.status == "RUNNING" and output_dir and folder in Path(output_dir).parents:
            client.set_tag(run.info.run_id, tracking.FAILURE_REASON_TAG, reason)
            client.set_terminated(run.info.run_id, RunStatus.to_string(status))
            ended.append((run.info.run_id, output_dir))
    return ended


def fail_runs_of_abandoned_trials(client: mlflow.MlflowClient, parent_id: str, study: optuna.Study | None) -> list[str]:
    """Mark FAILED the job runs still RUNNING whose Optuna trial the study has marked FAIL.

    Such a run belonged to a worker that died (see :func:`watched_search`): nothing
    else would ever end it, and the MLflow UI would show it running for good.

    Args:
        client: A client on the sweep's tracking store.
        parent_id: The sweep's parent run.
        study: The search's study from :func:`watched_search`; None ends nothing.

    Returns:
        The ids of the runs it ended.
    """
    failed = {str(number) for number in trial_numbers(study, optuna.trial.TrialState.FAIL)}
    ended = []
    for run in child_runs(client, parent_id) if failed else []:
        number = run.data.tags.get("trial.number")
        if run.info.status == "RUNNING" and number in failed:
            client.set_tag(run.info.run_id, "trial.state", "FAIL")
            client.set_tag(run.info.run_id, tracking.FAILURE_REASON_TAG,
                           f"its worker stopped sending heartbeats, so the study marked trial {number} FAIL")
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            ended.append(run.info.run_id)
    return ended


def close_parent_run(client: mlflow.MlflowClient, parent_id: str, status: int, reason: str | None = None) -> None:
    """End the parent run with ``status``; a run that ends well loses the reason an earlier session failed with.

    Args:
        client: A client on the parent run's store.
        parent_id: The parent run.
        status: A :class:`~mlflow.entities.RunStatus`: FINISHED, or FAILED when every job failed
            or the sweep died, or KILLED when it was interrupted.
        reason: Why it did not finish (the ``failure_reason`` tag).
    """
    if reason:
        client.set_tag(parent_id, tracking.FAILURE_REASON_TAG, reason)
    elif tracking.FAILURE_REASON_TAG in client.get_run(parent_id).data.tags:  # an Optuna study's parent, resumed and finished
        client.delete_tag(parent_id, tracking.FAILURE_REASON_TAG)
    client.set_terminated(parent_id, RunStatus.to_string(status))


def _create_parent_run(config: DictConfig, client: mlflow.MlflowClient, experiment_id: str) -> str:
    """A new parent run tagged with the sweep's identity and overrides."""
    identity = sweep_id(config)
    overrides = " ".join(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    run = client.create_run(
        experiment_id,
        run_name=f"sweep {identity.split(':', 1)[1].rsplit('/', 1)[-1]}",
        tags={"sweep.id": identity, "sweep.overrides": overrides, tracking.SWEEP_ROLE_TAG: "parent", **tracking.git_tags()},
    )
    client.log_param(run.info.run_id, "sweep.overrides", overrides[: tracking.MAX_PARAM_LENGTH])
    client.log_param(run.info.run_id, "optimized_metric", config.optimized_metric)
    client.log_param(run.info.run_id, "optimized_mode", resolve_mode(config.optimized_metric, config.optimized_mode))
    return run.info.run_id


def _study_parent_run(config: DictConfig, client: mlflow.MlflowClient, experiment_id: str) -> str:
    """The one parent run of an Optuna study, shared by every worker and every resumed session.

    Workers of one search may start at the same instant, so "search for the
    parent, create it if missing" would race. The study database decides
    instead: creating a study is atomic, so exactly one worker creates it, and
    that worker creates the parent run and records its id as a study user
    attribute (:data:`PARENT_RUN_ATTR`); the others wait for the attribute.
    """
    sweeper = config.hydra.sweeper
    storage = open_storage(sweeper.storage)
    direction = study_direction(config)
    try:
        study = optuna.create_study(study_name=sweeper.study_name, storage=storage, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=sweeper.study_name, storage=storage)
        _check_same_direction(study, direction, config.optimized_metric)
        run_id = _wait_for_parent_attr(study)
        if run_id and _reopen(client, run_id):
            _warn_of_other_overrides(client, run_id, config)
            return run_id
        log.info("Study %s has no parent run in this MLflow store; creating one.", sweeper.study_name)
    run_id = _create_parent_run(config, client, experiment_id)
    study.set_user_attr(PARENT_RUN_ATTR, run_id)
    return run_id


def _check_same_direction(study: optuna.Study, direction: str, metric: str) -> None:
    """Refuse to resume a study that was created to go the other way (its trials' values are another metric's).

    Raises:
        ConfigError: naming the study, both directions and the fix.
    """
    created = study.direction.name.lower()
    if created != direction:
        raise ConfigError(
            f"Optuna study {study.study_name!r} was created to {created} its trials' values, and this search would "
            f"{direction} {metric}: resuming it would mix the two. Give this search its own "
            "hydra.sweeper.study_name, or set optimized_metric (and optimized_mode) back to the study's."
        )


def _warn_of_other_overrides(client: mlflow.MlflowClient, run_id: str, config: DictConfig) -> None:
    """Warn when a resumed study runs with other overrides than the command that started it.

    Re-running the same command resumes a search; one with, say, ``model=tiny``
    dropped joined the old study without a word, and TPE learnt from trials that
    cannot be compared. Some differences are harmless (``trainer.threads``), so
    this warns, naming the overrides that differ, rather than refusing.
    """
    started = set(client.get_run(run_id).data.tags.get("sweep.overrides", "").split())
    now = set(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    if started != now:
        differ = "; ".join(part for part in (
            f"only then: {' '.join(sorted(started - now))}" if started - now else "",
            f"only now: {' '.join(sorted(now - started))}" if now - started else "",
        ) if part)
        log.warning("This search resumes study %s (parent run %s) with other overrides than it started with (%s): its "
                    "trials are compared with the earlier ones. If they are another experiment, give it its own "
                    "hydra.sweeper.study_name.", config.hydra.sweeper.study_name, run_id, differ)


def _wait_for_parent_attr(study: optuna.Study) -> str | None:
    """The parent run id recorded in ``study``, waiting for a worker that is creating it right now.

    A study that already has trials but no parent id (made by hand, or its
    creator died) is not waited for.
    """
    deadline = time.monotonic() + PARENT_WAIT_SECONDS
    while True:
        run_id = study.user_attrs.get(PARENT_RUN_ATTR)
        if run_id or study.get_trials(deepcopy=False) or time.monotonic() > deadline:
            return run_id
        time.sleep(0.5)


def _reopen(client: mlflow.MlflowClient, run_id: str) -> bool:
    """Mark an existing parent run RUNNING again; False when this store has no such run."""
    try:
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    except mlflow.exceptions.MlflowException:
        return False
    return True
