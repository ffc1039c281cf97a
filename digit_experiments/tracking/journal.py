"""A run's tracking records, kept on disk first and delivered to MLflow in the background.

MLflow's client blocks the caller while it retries an unreachable store
(minutes by default) and then raises; its asynchronous logging keeps the
queue in memory only, so records die with the process. Neither lets a
training run outlive a tracking outage, so this module does what they do not:

* every param, tag, metric and artifact a run logs is appended to
  ``<output dir>/tracking/journal.jsonl`` (artifacts are files under
  ``<output dir>``) before anything is sent;
* one background thread delivers the records in order with
  :class:`mlflow.MlflowClient`, remembers how many it has delivered in
  ``tracking/delivered``, and while the store is away waits and tries again;
* whatever is still undelivered when the run ends stays there, and
  :func:`deliver_pending` (``python -m digit_experiments.sync <output dir>``)
  sends it later, from where delivery stopped.

A metric record delivered just before a failure (the request reached the
store, its answer did not) is checked against the store before it is sent
again, so no epoch step is ever logged twice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from digit_experiments.core.errors import UserError, first_line
from digit_experiments.tracking.registry import register_run_model
from digit_experiments.tracking.store import server_problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Folder of a run's output directory holding its journal and logged files.
JOURNAL_DIR = "tracking"
#: The journal's header in that folder: the run id and store it belongs to, written when the run starts.
HEADER_FILE = "run.json"
#: MLflow error codes that mean the store refused a record (it will refuse it again), not that it is away.
REFUSED = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE", "RESOURCE_ALREADY_EXISTS"}
#: Per-request limits of ``log_batch``.
BATCH_LIMITS = {"params": 100, "tags": 100, "metrics": 1000}


class TrackingDeferred(Exception):
    """The run trained and ended, but some of its records could not reach the tracking store yet.

    Args:
        journal: The run's journal (its folder and what is pending).
        result: What the run would have returned (the optimised metric).
    """

    def __init__(self, journal: RunJournal, result: Any = None) -> None:
        self.journal = journal
        self.result = result
        super().__init__(
            f"Training finished, but the MLflow store {journal.tracking_uri} could not be reached for "
            f"{journal.pending} of the run's records. Nothing is lost: the model and every record are in "
            f"{journal.folder.parent}. When the store is back, send them with "
            f"`python -m digit_experiments.sync {journal.folder.parent}`."
        )


class RunJournal:
    """Record a run's params, tags, metrics and artifacts locally, and deliver them to MLflow in order.

    The logging methods mirror ``mlflow``'s fluent API, so code that logs
    takes either (``recorder.log_metrics(...)``). They return at once and
    never raise for a store that is down.

    Args:
        output_dir: The run's output directory; the journal lives in its ``tracking/`` folder.
        run_id: The MLflow run the records belong to.
        tracking_uri: The store to deliver to.
        deliver: Start the background delivery thread (``False`` only records).
    """

    def __init__(self, output_dir: Path, run_id: str, tracking_uri: str, deliver: bool = True) -> None:
        self.folder = Path(output_dir) / JOURNAL_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self._records = _read_records(self.folder / "journal.jsonl")
        self._delivered = _read_count(self.folder / "delivered")
        self._condition = threading.Condition()
        self._closing = False
        self._store_away_since: float | None = None
        self._check_next_metric = True  # the last session may have died after sending, before counting
        self._write_header()
        self._thread = threading.Thread(target=self._deliver_all, name="mlflow-delivery", daemon=True)
        if deliver:
            self._thread.start()

    @property
    def pending(self) -> int:
        """Records not yet delivered to the store."""
        return len(self._records) - self._delivered

    @property
    def store_away(self) -> bool:
        """Whether the last attempt to reach the store failed (records are kept until it is back)."""
        return self._store_away_since is not None

    def metric_history(self, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` of every ``key`` the run recorded, in step order (delivered or not)."""
        steps = {
            record["step"]: record["metrics"][key]
            for record in self._records
            if record["op"] == "metrics" and key in record["metrics"] and record.get("step") is not None
        }
        return sorted(steps.items())

    # The fluent API's logging methods.

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._append({"op": "params", "params": {key: str(value) for key, value in params.items()}})

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._append({"op": "tags", "tags": {key: str(value) for key, value in tags.items()}})

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        record = {"metrics": {key: float(value) for key, value in metrics.items()}, "step": step}
        self._append({"op": "metrics", **record, "timestamp": int(time.time() * 1000)})

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def log_text(self, text: str, artifact_file: str) -> None:
        path = self._artifact_file(artifact_file)
        path.write_text(text)
        self._append_artifact(path, artifact_file)

    def log_figure(self, figure: Figure, artifact_file: str) -> None:
        path = self._artifact_file(artifact_file)
        figure.savefig(path)
        self._append_artifact(path, artifact_file)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Deliver a folder that stays where it is (it must be inside the run's output directory)."""
        relative = Path(local_dir).resolve().relative_to(self.folder.parent.resolve())
        self._append({"op": "artifacts", "path": str(relative), "artifact_path": artifact_path})

    def register_model(self, name: str) -> None:
        """Register the run's logged ``model`` as a version of ``name``, delivered after the model's files."""
        self._append({"op": "register", "name": name})

    def end(self, status: str) -> None:
        """Record the run's end (``FINISHED``, ``FAILED`` or ``KILLED``), delivered last."""
        self._append({"op": "end", "status": status, "end_time": int(time.time() * 1000)})

    def close(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for delivery to catch up; return how many records are still pending."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return self.pending

    # Recording.

    def _write_header(self) -> None:
        header = self.folder / HEADER_FILE
        if not header.exists():
            header.write_text(json.dumps({"run_id": self.run_id, "tracking_uri": self.tracking_uri}) + "\n")

    def _artifact_file(self, artifact_file: str) -> Path:
        path = self.folder / "artifacts" / artifact_file
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _append_artifact(self, path: Path, artifact_file: str) -> None:
        directory = os.path.dirname(artifact_file) or None
        self._append({"op": "artifact", "path": str(path.relative_to(self.folder.parent)), "artifact_path": directory})

    def _append(self, record: dict[str, Any]) -> None:
        with self._condition:
            with open(self.folder / "journal.jsonl", "a") as journal:
                journal.write(json.dumps(record) + "\n")
            self._records.append(record)
            self._condition.notify_all()

    # Delivery.

    def _deliver_all(self) -> None:
        """The delivery thread: send records in order until closed with nothing left; wait out outages."""
        client = mlflow.MlflowClient(self.tracking_uri)
        retry_in = 1.0
        while True:
            with self._condition:
                while self.pending == 0 and not self._closing:
                    self._condition.wait()
                if self.pending == 0:
                    return
            try:
                self.deliver_next(client)
            except Exception as error:  # noqa: BLE001  (the store being away shows as many exception types)
                self._note_away(error)
                with self._condition:
                    self._condition.wait(retry_in)
                retry_in = min(retry_in * 2, 30.0)
                continue
            retry_in = 1.0
            self._note_back()

    def deliver_next(self, client: mlflow.MlflowClient) -> bool:
        """Send the oldest undelivered record; return ``False`` when the store refused it (it is skipped).

        Raises:
            Exception: whatever MLflow raised when the store could not be reached; the record stays pending.
        """
        record = self._records[self._delivered]
        try:
            self._deliver(client, record)
            accepted = True
        except Exception as error:  # noqa: BLE001
            if not _refused(error):
                raise
            log.warning("The tracking store refused a %s record, which is skipped: %s", record["op"], first_line(error))
            accepted = False
        self._count_delivered()
        return accepted

    def _deliver(self, client: mlflow.MlflowClient, record: Mapping[str, Any]) -> None:
        """Send one record to the store."""
        op, run_id = record["op"], self.run_id
        if op == "params":
            for chunk in _chunks([Param(k, v) for k, v in record["params"].items()], BATCH_LIMITS["params"]):
                client.log_batch(run_id, params=chunk, synchronous=True)
        elif op == "tags":
            for chunk in _chunks([RunTag(k, v) for k, v in record["tags"].items()], BATCH_LIMITS["tags"]):
                client.log_batch(run_id, tags=chunk, synchronous=True)
        elif op == "metrics":
            if self._check_next_metric and self._already_delivered(client, record):
                return
            step, timestamp = record.get("step") or 0, record["timestamp"]
            metrics = [Metric(k, v, timestamp, step) for k, v in record["metrics"].items()]
            for chunk in _chunks(metrics, BATCH_LIMITS["metrics"]):
                client.log_batch(run_id, metrics=chunk, synchronous=True)
        elif op == "artifact":
            client.log_artifact(run_id, str(self.folder.parent / record["path"]), record["artifact_path"])
        elif op == "artifacts":
            client.log_artifacts(run_id, str(self.folder.parent / record["path"]), record["artifact_path"])
        elif op == "register":
            register_run_model(client, record["name"], run_id)
        elif op == "end":
            client.set_terminated(run_id, record["status"], record["end_time"])
        self._check_next_metric = False

    def _already_delivered(self, client: mlflow.MlflowClient, record: Mapping[str, Any]) -> bool:
        """Whether a metric record's first value is already in the store (same step and timestamp)."""
        key = next(iter(record["metrics"]), None)
        if key is None:
            return False
        step = record.get("step") or 0
        return any(m.step == step and m.timestamp == record["timestamp"] for m in client.get_metric_history(self.run_id, key))

    def _count_delivered(self) -> None:
        with self._condition:
            self._delivered += 1
            counter = self.folder / "delivered"
            counter.with_suffix(".tmp").write_text(str(self._delivered))
            counter.with_suffix(".tmp").replace(counter)
            self._condition.notify_all()

    def _note_away(self, error: Exception) -> None:
        self._check_next_metric = True
        if self._store_away_since is None:
            self._store_away_since = time.monotonic()
            log.warning(
                "The MLflow store %s is not answering (%s). Training goes on; every record is kept in %s and "
                "sent when the store is back.", self.tracking_uri, first_line(error), self.folder,
            )

    def _note_back(self) -> None:
        if self._store_away_since is not None:
            log.warning(
                "The MLflow store %s is back after %.0f s; sending the records kept meanwhile.",
                self.tracking_uri, time.monotonic() - self._store_away_since,
            )
            self._store_away_since = None


def journal_header(output_dir: Path) -> Path:
    """The header of the journal a run keeps in ``output_dir``; it exists once the run has started."""
    return Path(output_dir) / JOURNAL_DIR / HEADER_FILE


def journal_run_id(output_dir: Path) -> str | None:
    """The run whose journal ``output_dir`` holds; None without one, or with a damaged header (see :func:`deliver_pending`)."""
    header = journal_header(output_dir)
    try:
        return json.loads(header.read_text())["run_id"] if header.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: How long ``sync`` waits for a tracking server's ``/health`` answer (``tracking.connect_timeout``'s default).
CONNECT_TIMEOUT = 30.0


def _check_store_exists(uri: str, run_id: str, where: str) -> None:
    """Refuse, in seconds, a store that cannot hold the run: a server that does not answer, a SQLite file that is not there.

    MLflow's client retries a dead server for minutes, and opening a missing
    SQLite file creates an empty store; neither can hold the run's records.
    """
    problem = server_problem(uri, CONNECT_TIMEOUT)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        problem = "is a SQLite file that does not exist"
    if problem:
        raise UserError(f"Cannot send the records of run {run_id}: the tracking store {uri} {problem}. {where}.")


def deliver_pending(output_dir: Path, tracking_uri: str | None = None) -> tuple[int, int]:
    """Send a run's undelivered records to its store (or ``tracking_uri``), in order: the ``sync`` command.

    Returns:
        ``(sent, refused)``: records delivered now, and records the store refused (skipped, with a warning).

    Raises:
        UserError: when the folder holds no journal, the store cannot be reached,
            or the store has no such run.
    """
    header = journal_header(output_dir)
    if not output_dir.is_dir():
        raise UserError(
            f"{output_dir} is not a folder{' (it is a file)' if output_dir.exists() else ' (it does not exist)'}. Pass the "
            "output directory of a training run, the folder named in its final message."
        )
    if not header.is_file():
        raise UserError(
            f"{output_dir} holds no tracking journal ({header} is missing). Pass the output directory of a training "
            "run, the folder named in its final message."
        )
    try:
        run = json.loads(header.read_text())
        uri, run_id = tracking_uri or run["tracking_uri"], run["run_id"]
    except (ValueError, KeyError, TypeError) as error:  # ValueError: bad JSON or bytes that are not text
        raise UserError(
            f"{header} is damaged ({first_line(error)}), so it cannot say which run the records belong to. It is "
            "written whole when a run starts; restore it from a backup of the folder if there is one. The records "
            "themselves are in journal.jsonl beside it."
        ) from None
    where = (
        f"--tracking-uri must be the address of the store the run started in ({run['tracking_uri']})"
        if tracking_uri else "Check that the store is running; if it has moved, pass its new address with --tracking-uri"
    )
    _check_store_exists(uri, run_id, where)
    journal = RunJournal(Path(output_dir), run_id, uri, deliver=False)
    client = mlflow.MlflowClient(uri)
    try:
        client.get_run(run_id)
    except Exception as error:  # noqa: BLE001  (a missing run and an absent store raise different types)
        raise UserError(f"Cannot send the records of run {run_id} to {uri}: {first_line(error)}. {where}.") from None
    sent = refused = 0
    while journal.pending:
        try:
            accepted = journal.deliver_next(client)
        except Exception as error:  # noqa: BLE001
            raise UserError(
                f"The store {uri} stopped answering after {sent + refused} records ({first_line(error)}); "
                f"{journal.pending} are still pending. Run the same command again when it is back."
            ) from None
        sent, refused = sent + accepted, refused + (not accepted)
    return sent, refused


def _refused(error: Exception) -> bool:
    return isinstance(error, MlflowException) and error.error_code in REFUSED


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The journal's records. A last line cut short by a killed process is dropped from the file too."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            path.write_text("".join(json.dumps(record) + "\n" for record in records))
            break
    return records


def _read_count(path: Path) -> int:
    return int(path.read_text()) if path.exists() else 0
