"""Tracked runs that always end with an honest status.

:func:`tracked_run` logs through MLflow's fluent API (short commands such as
``evaluate``); :func:`recorded_run` logs through a :class:`RunJournal`, so a
training run never waits for, or dies with, the tracking store.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import mlflow
from mlflow.entities import Param, RunStatus
from mlflow.tracking.context import registry as context_registry

from digit_experiments.core import startup
from digit_experiments.core.errors import UserError
from digit_experiments.core.validation import flatten
from digit_experiments.training.selection import apply_selection
from digit_experiments.tracking.journal import RunJournal
from digit_experiments.tracking.params import MAX_PARAM_LENGTH
from digit_experiments.tracking.tags import FAILURE_REASON_TAG, OUTPUT_DIR_TAG, STOPPED_BEFORE_TRAINING_TAG
from digit_experiments.tracking.store import check_reachable, tracking_uri, use_experiment

log = logging.getLogger(__name__)

#: Set by the sweep callback: the id of the sweep's parent run.
PARENT_RUN_ENV = "DIGITS_PARENT_RUN_ID"
#: Attribute :func:`recorded_run` sets on the exception that ended its run: that run's id.
ENDED_RUN_ATTRIBUTE = "ended_mlflow_run_id"


@contextlib.contextmanager
def tracked_run(
    tracking: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    failure_tags: Mapping[str, str] | None = None,
    **start_kwargs: Any,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run and always end it with an honest status.

    FINISHED on success, KILLED on Ctrl-C (KeyboardInterrupt), FAILED on any
    other exception, with the reason in the ``failure_reason`` tag and
    ``failure_tags`` (e.g. an Optuna trial's state) set too. The exception is
    re-raised: tracking never swallows errors.
    """
    experiment_id = use_experiment(tracking)
    run = mlflow.start_run(
        experiment_id=experiment_id, run_name=tracking.get("run_name"), tags=_with_parent(tags), **start_kwargs
    )
    signals_at_start = len(startup.SIGNALS_RECEIVED)
    try:
        yield run
    except BaseException as error:
        stopped_by = _interrupt_behind(error, signals_at_start)
        status, reason = _failure(stopped_by)
        mlflow.set_tags({**(failure_tags or {}), FAILURE_REASON_TAG: reason})
        mlflow.end_run(RunStatus.to_string(status))
        if stopped_by is not error:
            raise stopped_by from error
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


@contextlib.contextmanager
def recorded_run(
    tracking: Mapping[str, Any],
    output_dir: Path,
    tags: Mapping[str, str] | None = None,
    failure_tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Iterator[RunJournal]:
    """Start a run (or reopen ``run_id``) whose records go through a :class:`RunJournal` in ``output_dir``.

    Only starting the run talks to the store directly; everything after is
    recorded locally and delivered in the background. The run ends like
    :func:`tracked_run`'s (FINISHED, KILLED or FAILED with the reason), and
    then waits up to ``tracking.flush_timeout`` seconds for delivery. Records
    still pending after that stay in the journal, with a warning; the caller
    sees them in ``journal.pending``.
    """
    experiment_id = use_experiment(tracking)
    uri = tracking_uri(tracking["uri"])
    client = mlflow.MlflowClient(uri)
    if run_id is None:
        run_tags = context_registry.resolve_tags(_with_parent(tags))
        run_id = client.create_run(experiment_id, tags=run_tags, run_name=tracking.get("run_name")).info.run_id
    else:
        client.update_run(run_id, RunStatus.to_string(RunStatus.RUNNING))
        if FAILURE_REASON_TAG in client.get_run(run_id).data.tags:  # why it stopped last time; it runs again now
            client.delete_tag(run_id, FAILURE_REASON_TAG)
        if tags:
            client.log_batch(run_id, tags=[mlflow.entities.RunTag(k, str(v)) for k, v in tags.items()])
    journal = RunJournal(output_dir, run_id, uri)
    status = RunStatus.FINISHED
    signals_at_start = len(startup.SIGNALS_RECEIVED)
    try:
        yield journal
    except BaseException as error:
        stopped_by = _interrupt_behind(error, signals_at_start)
        status, reason = _failure(stopped_by)
        journal.set_tags({**(failure_tags or {}), FAILURE_REASON_TAG: reason})
        setattr(stopped_by, ENDED_RUN_ATTRIBUTE, run_id)
        if stopped_by is not error:
            raise stopped_by from error
        raise
    finally:
        journal.end(RunStatus.to_string(status))
        if journal.close(float(tracking.get("flush_timeout", 60))):
            log.warning("%d tracking records of run %s are still pending in %s.", journal.pending, run_id, journal.folder)


def record_job_that_never_started(
    config: Mapping[str, Any], output_dir: Path, overrides: Sequence[str], error: BaseException
) -> None:
    """Leave a FAILED run for a sweep job that stopped before its run started.

    A config or data mistake (``model.dense_dropout=1.5`` in a grid) stops a
    job before :func:`recorded_run`; without this run the sweep's report had
    no row for it and its summary counted it nowhere. The run nests under the
    sweep's parent and holds what a failed job's run holds: the job's config as
    params, its overrides and the reason. Outside a sweep, or when the job's
    run was started after all (``error`` ended it, or its ``output_dir`` tag is
    found), it does nothing: a resumed job's run carries its first folder's tag.

    Args:
        config: The job's resolved config.
        output_dir: The job's output folder, the tag that identifies its run.
        overrides: The job's command-line overrides.
        error: What stopped the job.
    """
    parent_id = os.environ.get(PARENT_RUN_ENV)
    if not parent_id or hasattr(error, ENDED_RUN_ATTRIBUTE):
        return
    check_reachable(config["tracking"])  # the store may be what failed the job: seconds, not MLflow's minutes of retries
    experiment_id = use_experiment(config["tracking"])
    client = mlflow.MlflowClient(tracking_uri(config["tracking"]["uri"]))
    started = f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.{OUTPUT_DIR_TAG} = '{output_dir}'"
    if client.search_runs([experiment_id], filter_string=started):
        return
    tags = {OUTPUT_DIR_TAG: str(output_dir), FAILURE_REASON_TAG: _failure(error)[1], STOPPED_BEFORE_TRAINING_TAG: "true"}
    if config.get("optuna"):
        tags["trial.state"] = "FAIL"
    run_tags = context_registry.resolve_tags(_with_parent(tags))
    run_id = client.create_run(experiment_id, tags=run_tags, run_name="stopped before training").info.run_id
    config = copy.deepcopy(dict(config))
    with contextlib.suppress(UserError):  # resolve `auto` modes as a started job's params show them, where possible
        apply_selection(config)
    params = [Param(key, str(value)[:MAX_PARAM_LENGTH]) for key, value in flatten(config)]
    for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=params[start:start + 100])
    client.log_text(run_id, "\n".join(overrides) + "\n", "config/overrides.txt")
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))


def _interrupt_behind(error: BaseException, signals_at_start: int) -> BaseException:
    """``error``, or the interrupt behind it when an interrupting signal arrived since the run started.

    A Ctrl-C that lands while TensorFlow builds or runs a graph can surface as
    another exception (a ``TypeError`` from a layer, pybind11's "MISMATCH of
    original and normalized active exception types"), which ended the run
    FAILED with that confusing reason, instead of KILLED and resumable.
    """
    if isinstance(error, KeyboardInterrupt) or len(startup.SIGNALS_RECEIVED) <= signals_at_start:
        return error
    return startup.signal_interrupt(startup.SIGNALS_RECEIVED[-1])


def _failure(error: BaseException) -> tuple[int, str]:
    """How a run that raised ``error`` ends: KILLED for Ctrl-C, SIGTERM or SIGHUP, FAILED otherwise, and the reason tag."""
    if isinstance(error, KeyboardInterrupt):
        return RunStatus.KILLED, "interrupted (Ctrl-C, SIGTERM or SIGHUP)"
    return RunStatus.FAILED, f"{type(error).__name__}: {error}"[:5000]


def _with_parent(tags: Mapping[str, str] | None) -> dict[str, str]:
    """``tags``, plus the sweep's parent run when this is a sweep job (so the run nests under it)."""
    tags = dict(tags or {})
    if os.environ.get(PARENT_RUN_ENV):
        tags["mlflow.parentRunId"] = os.environ[PARENT_RUN_ENV]
    return tags


def describe_run(config: Mapping[str, Any], trained_sources: Sequence[str] | None = None) -> str:
    """A training run's name: what it is, e.g. ``fast cnn_bn mnist seed42``.

    The recipe's ``tracking.run_name`` (``fast``, ``seed``; ``train`` without
    one), the model, the sources trained on (``mnist+usps``; test-only ones
    left out) and the seed, so that runs read apart in the MLflow UI instead
    of MLflow's random names.

    Args:
        config: The run's resolved config.
        trained_sources: The sources the loaded data came from, when known: ``dataset=auto``
            names the one it picked (``mnist``, or ``embedded`` offline) rather than ``auto``.
    """
    sources = trained_sources or [
        name for name, options in config["dataset"]["sources"].items() if not (options or {}).get("test_only")
    ]
    recipe = config["tracking"].get("run_name") or "train"
    return f"{recipe} {config['model']['name']} {'+'.join(sources)} seed{config['seed']}"
