"""Finding an interrupted run to resume, and checking that it resumes with its own config."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Iterable, Mapping

import mlflow
from mlflow.entities import Run

from digit_experiments.core.errors import ConfigError, UserError
from digit_experiments.core.validation import flatten
from digit_experiments.tracking.journal import RunJournal
from digit_experiments.tracking.listing import recent_runs_hint
from digit_experiments.tracking.params import MAX_PARAM_LENGTH
from digit_experiments.tracking.store import tracking_uri, use_experiment
from digit_experiments.tracking.tags import FAILURE_REASON_TAG, OUTPUT_DIR_TAG, stopped_before_training

#: Config keys that may differ when a run is resumed (where things live, how verbose, the resume itself).
RESUME_MAY_CHANGE = ("resume", "paths.*", "trainer.verbose", "trainer.threads", "tracking.*")


def find_resumable_run(tracking: Mapping[str, Any], resume: str) -> Run:
    """The unfinished training run that ``resume`` names: a run id or the run's output directory.

    Raises:
        UserError: when no such run exists in the store, it already finished,
            or it has no output directory to resume from.
    """
    client = mlflow.MlflowClient(tracking_uri(tracking["uri"]))
    folder = Path(resume).expanduser()
    if folder.is_dir():
        experiment_id = use_experiment(tracking)
        found = client.search_runs([experiment_id], filter_string=f"tags.{OUTPUT_DIR_TAG} = '{folder.absolute()}'")
        if not found:
            raise UserError(
                f"No run in {tracking_uri(tracking['uri'])} was trained in {folder.absolute()}; pass its run id instead. "
                + _resumable_runs_hint(client)
            )
        run = found[0]
    else:
        try:
            run = client.get_run(resume)
        except Exception as error:  # noqa: BLE001  (MLflow raises several types for a missing run)
            raise UserError(
                f"Cannot resume {resume!r}: it is neither a folder nor a run id in {tracking_uri(tracking['uri'])} ({error}). "
                + _resumable_runs_hint(client)
            ) from error
    if run.info.status == "FINISHED":
        raise UserError(f"Run {run.info.run_id} already finished; there is nothing to resume. " + _resumable_runs_hint(client))
    if stopped_before_training(run):
        raise UserError(
            f"Run {run.info.run_id} is a sweep job that stopped before training ({run.data.tags.get(FAILURE_REASON_TAG)}); "
            "there is nothing to resume. Run the job again as a new run, with its config corrected. "
            + _resumable_runs_hint(client)
        )
    if OUTPUT_DIR_TAG not in run.data.tags:
        raise UserError(f"Run {run.info.run_id} has no `{OUTPUT_DIR_TAG}` tag, so its training state cannot be found.")
    return run


def _resumable(run: Run) -> bool:
    """Whether ``resume=`` accepts ``run``: unfinished, with an output directory, and started training."""
    return run.info.status != "FINISHED" and OUTPUT_DIR_TAG in run.data.tags and not stopped_before_training(run)


def _resumable_runs_hint(client: mlflow.MlflowClient) -> str:
    """The newest runs ``resume=`` would accept (:func:`_resumable`)."""
    return recent_runs_hint(client, _resumable, "runs that can be resumed")


def check_resume_config(run: Run, config: Mapping[str, Any]) -> None:
    """Refuse to resume ``run`` with a config that differs from the one it started with.

    Raises:
        ConfigError: listing the keys whose values differ.
    """
    logged = run.data.params
    differ = [
        f"{key} (was {logged[key]!r}, now {str(value)[:MAX_PARAM_LENGTH]!r})"
        for key, value in flatten(config)
        if key in logged and str(value)[:MAX_PARAM_LENGTH] != logged[key]
        and not any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUME_MAY_CHANGE)
    ]
    if differ:
        raise ConfigError(
            f"Run {run.info.run_id} is resumed with a different config: {'; '.join(differ)}. "
            "Resume with the same overrides as the interrupted command."
        )


def last_logged_epoch(journal: RunJournal, key: str = "loss") -> int:
    """The highest epoch step of ``key`` the run recorded (delivered to the store or not), or -1."""
    return max((step for step, _ in journal.metric_history(key)), default=-1)


def logged_history(journal: RunJournal, keys: Iterable[str]) -> dict[str, list[float]]:
    """The per-epoch series of ``keys`` as the run recorded them, in step order (a resumed run's full history)."""
    return {key: [value for _, value in journal.metric_history(key)] for key in keys}
