"""MLflow tracking: where runs go, what each run records, and how it ends.

One module per concern, re-exported here as the package's API:

* :mod:`.store`: the store URI (``$MLFLOW_TRACKING_URI`` wins) and the experiment;
* :mod:`.runs`: a run that always ends FINISHED, FAILED or KILLED, with the reason;
* :mod:`.journal`: a training run's records, kept on disk and delivered in the background;
* :mod:`.tags`: git and data-checksum tags;
* :mod:`.params`: the resolved config as params and artifacts, figures as PNGs;
* :mod:`.models`: the trained model as an MLflow model (imports Keras only when called);
* :mod:`.resume`: finding and checking an interrupted run to resume;
* :mod:`.listing`: naming the recent runs a mistyped run id could have meant.

The per-epoch metrics logger is a Keras callback, in
:mod:`digit_experiments.training.callbacks.mlflow_metrics`. Nothing here
imports TensorFlow at import time.
"""

from digit_experiments.tracking.journal import RunJournal, TrackingDeferred, deliver_pending
from digit_experiments.tracking.listing import recent_runs_hint
from digit_experiments.tracking.models import log_keras_model, pip_requirements
from digit_experiments.tracking.params import MAX_PARAM_LENGTH, log_config, log_figure
from digit_experiments.tracking.resume import (
    RESUME_MAY_CHANGE,
    check_resume_config,
    find_resumable_run,
    last_logged_epoch,
    logged_history,
)
from digit_experiments.tracking.runs import (
    PARENT_RUN_ENV,
    describe_run,
    record_job_that_never_started,
    recorded_run,
    tracked_run,
)
from digit_experiments.tracking.store import check_reachable, connect, tracking_uri, use_experiment
from digit_experiments.tracking.tags import FAILURE_REASON_TAG, OUTPUT_DIR_TAG, PROJECT_ROOT, SWEEP_ROLE_TAG, data_tags, git_tags, tag_key

__all__ = [
    "FAILURE_REASON_TAG", "MAX_PARAM_LENGTH", "OUTPUT_DIR_TAG", "PARENT_RUN_ENV", "PROJECT_ROOT", "RESUME_MAY_CHANGE", "RunJournal",
    "SWEEP_ROLE_TAG", "TrackingDeferred", "check_reachable", "check_resume_config", "connect", "data_tags", "describe_run", "deliver_pending",
    "find_resumable_run", "git_tags", "last_logged_epoch", "log_config", "log_figure",
    "log_keras_model", "logged_history", "pip_requirements", "recent_runs_hint", "record_job_that_never_started", "recorded_run", "tag_key", "tracked_run", "tracking_uri", "use_experiment",
]
