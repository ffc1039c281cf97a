"""Where runs go: the tracking store's URI and the experiment runs are filed under.

The local default is a SQLite database in ``./mlruns/mlflow.db`` with
artifacts under ``./mlruns/artifacts`` (MLflow 3.17's plain file store refuses
to start by default). ``$MLFLOW_TRACKING_URI`` overrides the config, so a
shared ``mlflow server`` can collect runs from many machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping

import mlflow
from mlflow.exceptions import MlflowException

from digit_experiments.core.errors import UserError, first_line


def tracking_uri(configured: str) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``configured``, with SQLite paths made absolute and their folder created.

    Raises:
        UserError: for a bare path (MLflow's retired file store), for an in-memory SQLite database (``sqlite://``, ``:memory:``),
            which would vanish with the process and every record in it, and for
            a SQLite file whose folder cannot be created.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    fix = "Use a SQLite file in a writable folder, e.g. sqlite:///mlruns/mlflow.db, or a running `mlflow server`."
    if ":" not in uri and uri != "databricks":
        raise UserError(
            f"The MLflow tracking store {uri!r} (from {_uri_source()}) is not a URI: MLflow would read it as a folder "
            f"of its retired file store. {fix}"
        )
    if uri.startswith("sqlite:") and (not uri.startswith(prefix) or uri.endswith(":memory:")):
        raise UserError(
            f"The MLflow tracking store {uri} (from {_uri_source()}) is an in-memory SQLite database: it would vanish "
            f"with this process, and every run and record with it. {fix}"
        )
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        database = Path(uri[len(prefix):]).absolute()
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"The MLflow tracking store {uri} (from {_uri_source()}) cannot be created: its folder "
                f"{database.parent} cannot be made ({error.strerror}). {fix}"
            ) from None
        uri = prefix + str(database)
    return uri


#: MLflow 3's UI opens an experiment in its model-training view (not the GenAI one) with this tag.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def use_experiment(tracking: Mapping[str, Any]) -> str:
    """Point MLflow at the configured store and experiment (created if missing); return its id.

    Sweep workers that start together may all find the experiment missing;
    the ones that lose the race to create it use the winner's. The experiment
    is tagged as a model-training one (:data:`EXPERIMENT_KIND`).
    """
    uri = tracking_uri(tracking["uri"])
    _set_tracking_uri_keeping_environment(uri)
    name = tracking["experiment_name"]
    try:
        with _first_connection_lock(uri):
            experiment = mlflow.get_experiment_by_name(name)
    except Exception as error:  # MLflow, SQLAlchemy and the OS each raise their own kind
        raise UserError(
            f"The MLflow tracking store {uri} (from {_uri_source()}) could not be opened: {first_line(error, 500)}. "
            "Point it at a store this machine can write (a sqlite:/// file in a writable folder, a running "
            f"`mlflow server` or a database), or {_local_store_advice()}."
        ) from None
    if experiment is not None:
        if any(experiment.tags.get(key) != value for key, value in EXPERIMENT_KIND.items()):
            mlflow.MlflowClient(uri).set_experiment_tag(experiment.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        return experiment.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:") and tracking.get("artifact_location"):
        artifact_location = Path(tracking["artifact_location"]).absolute().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=artifact_location, tags=EXPERIMENT_KIND)
    except Exception:  # the SQL store raises SQLAlchemy's IntegrityError, a server an MlflowException
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


@contextlib.contextmanager
def _first_connection_lock(uri: str) -> Iterator[None]:
    """Serialise the first connection of several processes to one SQLite store.

    MLflow creates and migrates its schema when a process first connects to a
    SQLite database; two runs started together on a new ``./mlruns/mlflow.db``
    both did it, and one crashed ("duplicate column name: step"). An exclusive
    lock on a file beside the database lets one process do it while the other
    waits. Other stores (a server, PostgreSQL) handle concurrency themselves.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_file = Path(uri[len("sqlite:///"):] + ".lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _local_store_advice() -> str:
    """How to fall back to the local store ./mlruns, for messages: undo whichever setting chose this store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "unset MLFLOW_TRACKING_URI to use the local store ./mlruns"
    return "leave tracking.uri at its default to use the local store ./mlruns"


def _uri_source() -> str:
    """Where the store's URI came from, for messages: the environment wins over the config."""
    return "$MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "tracking.uri"


def connect(tracking: Mapping[str, Any], used: bool = True) -> str:
    """Point MLflow at the configured store without creating anything in it; return its URI.

    Args:
        tracking: The ``tracking`` config.
        used: Whether the command will read or write the store. A server that
            will be used is probed first (:func:`check_reachable`), so one that
            is down costs seconds and one paragraph, not minutes of retries.
    """
    if used:
        check_reachable(tracking)
    uri = tracking_uri(tracking["uri"])
    _set_tracking_uri_keeping_environment(uri)
    return uri


def _set_tracking_uri_keeping_environment(uri: str) -> None:
    """``mlflow.set_tracking_uri`` without its side effect of exporting ``$MLFLOW_TRACKING_URI``.

    MLflow exports the URI for subprocesses; left in place, it would make the
    next run in the same process (a sweep job, a test) ignore its own config.
    """
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def check_reachable(tracking: Mapping[str, Any]) -> None:
    """Fail fast, before any data is loaded, when the configured store is of no known kind or its server does not answer.

    MLflow's client retries an unreachable server for minutes and then raises
    a bare exception; a run should learn that in seconds, with what to check.
    Only HTTP(S) stores are probed (their ``/health`` endpoint); a local
    SQLite store is created on demand.

    Raises:
        UserError: naming the URI, the reason and what to check, after at most
            ``tracking.connect_timeout`` seconds (at once for an unknown scheme).
    """
    uri = tracking_uri(tracking["uri"])
    _check_scheme(uri)
    problem = server_problem(uri, float(tracking.get("connect_timeout", 30)))
    if problem:
        raise UserError(
            f"The MLflow tracking server {uri} (from {_uri_source()}) {problem}. The command stopped before doing "
            "anything. Check that the server is running and reachable from this machine, fix the URI, "
            f"or {_local_store_advice()}; tracking.connect_timeout sets the wait."
        ) from None


def _check_scheme(uri: str) -> None:
    """Refuse a URI whose scheme no tracking store MLflow has (built in or from a plugin) can open.

    MLflow only finds out when the run first opens the store, after the data
    has loaded; its registry answers from the scheme alone, without connecting.
    The registry is private to MLflow (``_tracking_store_registry``); it is
    what MLflow itself consults, plugins included, so no list is kept here.

    Raises:
        UserError: naming the scheme and the ones MLflow knows.
    """
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    try:
        _tracking_store_registry.get_store_builder(uri)
    except MlflowException:
        known = ", ".join(sorted(scheme for scheme in _tracking_store_registry._registry if scheme))
        raise UserError(
            f"The MLflow tracking store {uri} (from {_uri_source()}) has a scheme no MLflow store can open "
            f"(known: {known}). The command stopped before doing anything. Fix the URI (e.g. sqlite:///mlruns/mlflow.db "
            f"or http://host:5000), or {_local_store_advice()}."
        ) from None


def server_problem(uri: str, timeout: float) -> str | None:
    """Why the MLflow server at ``uri`` cannot be used, as a phrase; None when it answers (or ``uri`` is no server).

    Probes ``/health`` once, waiting at most ``timeout`` seconds; only HTTP(S) URIs are probed.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read(64)
    except urllib.error.HTTPError as error:
        return f"answered its /health check with HTTP {error.code}, so it is not a working MLflow server"
    except (OSError, ValueError) as error:
        if isinstance(getattr(error, "reason", None), ConnectionRefusedError):
            return f"refused the connection ({error.reason})"
        return f"did not answer within {timeout:g} s ({error})"
    return None
