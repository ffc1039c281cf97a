"""The Hydra callback that groups a multirun's jobs under one MLflow parent run with a report.

``conf/hydra/default.yaml`` installs :class:`MlflowSweepCallback` for every
command, so this module is imported by every run and must not import
TensorFlow. It only wires Hydra's events to :mod:`.parent_run` and :mod:`.report`:

* ``on_multirun_start`` opens the parent run and exports its id in
  ``$DIGITS_PARENT_RUN_ID``; every job's run then carries MLflow's
  ``mlflow.parentRunId`` tag, so the UI nests the jobs under it;
* ``on_job_end`` rebuilds the report after every job;
* ``on_multirun_end`` rebuilds it a last time and ends the parent run;
  a sweep that dies before (a launcher or sweeper error) has its parent run
  ended FAILED when the process exits, instead of RUNNING for good.

A worker of a shared Optuna search ends the parent run only when no other
live worker still runs a trial of it (:func:`~.parent_run.watched_search`):
the last worker to stop ends it, whichever that is.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import RunStatus
from omegaconf import DictConfig

from digit_experiments import tracking
from digit_experiments.core import startup
from digit_experiments.core.errors import ConfigError, exit_for_user_error, exit_with_paragraph
from digit_experiments.hpo.parent_run import (
    close_parent_run,
    end_runs_left_running,
    fail_runs_of_abandoned_trials,
    open_parent_run,
    sweep_id,
    tracking_client,
    trials_of_other_workers,
    watched_search,
)
from digit_experiments.hpo.report import REPORT_FOLDER, failed_jobs, write_report
from digit_experiments.hpo.study_settings import check_study_settings

log = logging.getLogger(__name__)


class MlflowSweepCallback(Callback):
    """Hydra callback that groups a multirun's jobs under one MLflow parent run with a report."""

    def __init__(self) -> None:
        self.parent_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Open the parent run, or stop the sweep: Hydra would only warn about an exception here
        and run every job un-nested, with no report."""
        try:
            if sweep_id(config).startswith("optuna:"):
                check_study_settings(config)
            self.parent_id = open_parent_run(config)
        except ConfigError as error:  # a mistake in hydra.sweeper: the key and the fix (a store's UserError falls through)
            exit_for_user_error(error)
        except Exception as error:
            uri = tracking.tracking_uri(config.tracking.uri)
            study_storage = config.hydra.sweeper.get("storage")
            stores = f"the tracking store ({uri}: tracking.uri or $MLFLOW_TRACKING_URI)"
            if study_storage:
                stores += f" and the Optuna study storage ({study_storage}: hydra.sweeper.storage)"
            raise SystemExit(
                f"\nError: the sweep could not open its MLflow parent run "
                f"({type(error).__name__}: {str(error)[:500]}). No job was started. Check that {stores} "
                "can be reached and written, then run the sweep again."
            ) from error
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_id
        atexit.register(self._fail_if_unfinished, config)
        log.info("Sweep parent run %s", self.parent_id)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Rebuild the report of the sweep this job belongs to (none for a single run)."""
        parent_id = os.environ.get(tracking.PARENT_RUN_ENV)
        if parent_id:
            client, _ = tracking_client(config)
            write_report(client, parent_id, config.optimized_metric, config.optimized_mode)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the final report and end the parent run (FAILED only when every job failed).

        A sweep whose every job failed exits with status 1, so that a script or CI job sees it;
        one with some failed jobs still has results and exits 0 after a warning.
        """
        if self.parent_id is None:
            return
        parent_id, self.parent_id = self.parent_id, None  # the sweep reached its end: the exit hook leaves it be
        os.environ.pop(tracking.PARENT_RUN_ENV, None)
        client, _ = tracking_client(config)
        study = watched_search(config)  # the trials of dead workers are failed first
        others = trials_of_other_workers(study)
        self._end_runs_of_dead_workers(client, parent_id, study)
        rows: list[dict[str, Any]] = []
        try:
            rows = write_report(client, parent_id, config.optimized_metric, config.optimized_mode)
        finally:
            failed = failed_jobs(rows)
            every_job_failed = bool(rows) and failed == len(rows)
            if not others:
                close_parent_run(client, parent_id, RunStatus.FAILED if every_job_failed else RunStatus.FINISHED)
        report = client.get_run(parent_id).info.artifact_uri
        if others:
            log.info("This worker is done; other workers still run trials %s, so the parent run %s stays RUNNING "
                     "and the last of them ends it.", ", ".join(map(str, others)), parent_id)
        log.info("Sweep finished: %d jobs, %d failed. Report: %s/%s", len(rows), failed, report, REPORT_FOLDER)
        if every_job_failed and not others:
            exit_with_paragraph(
                f"Every one of the sweep's {len(rows)} jobs failed, so the sweep has no result and its parent run "
                f"{parent_id} is FAILED. Each job's reason is in the report and in its child run's failure_reason; "
                "they usually share one cause (a config value, the data, a learning rate that diverges).", 1,
            )
        if failed:
            log.warning("%d of %d sweep jobs failed; see the report and the FAILED child runs.", failed, len(rows))

    def _end_jobs_left_running(self, client: Any, config: DictConfig, status: int, reason: str) -> None:
        """End this sweep's job runs that a stopped worker left RUNNING (see :func:`~.parent_run.end_runs_left_running`)."""
        try:
            ended = end_runs_left_running(client, self.parent_id, config.hydra.sweep.dir, status,
                                          f"{reason}: the sweep stopped its worker before the job could end its run")
        except Exception as error:  # the store may be what stopped the sweep
            log.warning("Could not end the sweep's unfinished job runs: %s", error)
            return
        for run_id, output_dir in ended:
            log.warning("Job run %s was left RUNNING by its stopped worker: marked %s; `resume=%s` continues it.",
                        run_id, RunStatus.to_string(status), output_dir)

    @staticmethod
    def _end_runs_of_dead_workers(client: Any, parent_id: str, study: Any) -> None:
        """End FAILED the job runs of trials whose worker died (failed in ``study`` by
        :func:`~.parent_run.watched_search`), so that the report and the UI show them so."""
        try:
            ended = fail_runs_of_abandoned_trials(client, parent_id, study)
        except Exception as error:  # the study or the store may be out of reach: the report still gets written
            log.warning("Could not end the job runs of dead workers: %s", error)
            return
        for run_id in ended:
            log.warning("Job run %s belonged to a worker that died: marked FAILED.", run_id)

    def _fail_if_unfinished(self, config: DictConfig) -> None:
        """At exit, end a parent run whose sweep stopped before ``on_multirun_end`` (Hydra has no error hook).

        KILLED when the sweep was interrupted (Ctrl-C), as its jobs' runs are; FAILED otherwise. While
        other workers of a shared Optuna search still run trials, the parent stays RUNNING for them.
        """
        if self.parent_id is None:
            return
        interrupted = bool(startup.STOPPED_BY) or isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
        status, reason = RunStatus.KILLED, "interrupted"
        if not interrupted:
            status, reason = RunStatus.FAILED, "the sweep stopped before its end"
        try:  # probed once: a server that is down costs one tracking.connect_timeout here, not one per step
            tracking.check_reachable(config.tracking)  # the store may be what stopped the sweep: seconds, not minutes
            client, _ = tracking_client(config)
        except Exception as error:
            log.warning("Could not end the sweep's parent run %s or its jobs' runs: %s", self.parent_id, error)
            return
        self._end_jobs_left_running(client, config, status, reason)
        others = trials_of_other_workers(watched_search(config))
        if others:
            log.warning("This worker stopped (%s); other workers still run trials %s, so the parent run %s stays "
                        "RUNNING and the last of them ends it.", reason, ", ".join(map(str, others)), self.parent_id)
            return
        try:
            close_parent_run(client, self.parent_id, status, f"{reason}; its console output says why")
        except Exception as error:
            log.warning("Could not end the sweep's parent run %s: %s", self.parent_id, error)
