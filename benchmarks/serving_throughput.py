"""Images per second through ``mlflow models serve``: standardised pixels against base64 image files.

Serves a logged or registered model with MLflow's own server (one worker, as
the README's command does), then posts requests of ``--batch`` MNIST test
images (256 by default) in three forms, side by side in one run:

* ``pixels``: the standardised 28×28 floats, one ``pixels`` row per image;
* ``png``: each 28×28 test image as a base64 PNG file in column ``image``,
  standardised on the server;
* ``jpeg_300px``: each image as a 300×300 JPEG of dark ink on light paper
  (a photo-sized file), standardised on the server.

Each form gets two warm-up requests, then ``--requests`` timed ones; the
report gives the median and 90th-percentile request time and images per
second, with the CPU flags and precision::

    python benchmarks/serving_throughput.py --model-uri models:/digits@champion \\
        --tracking-uri sqlite:///mlruns/mlflow.db

When the server stops before it answers, the last lines of its log are quoted
and the log is kept.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from digit_experiments.dataset.io.idx import read_idx
from digit_experiments.dataset.standardise import standardise_images

from common import RESULTS, check_outputs, machine, positive, run, save_report


def payloads(data_dir: Path, batch: int) -> dict[str, bytes]:
    """The three request bodies for the first ``batch`` MNIST test images."""
    raw = read_idx(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")[:batch]
    pixels = np.round(standardise_images(list(raw)) / 255.0, 4)

    def encoded(extension: str, image: np.ndarray, *options: int) -> str:
        return base64.b64encode(cv2.imencode(extension, image, list(options))[1].tobytes()).decode("ascii")

    photos = [255 - cv2.resize(image, (300, 300), interpolation=cv2.INTER_CUBIC) for image in raw]
    rows = {
        "pixels": [{"pixels": image.tolist()} for image in pixels],
        "png": [{"image": encoded(".png", image)} for image in raw],
        "jpeg_300px": [{"image": encoded(".jpg", photo, cv2.IMWRITE_JPEG_QUALITY, 90)} for photo in photos],
    }
    return {form: json.dumps({"dataframe_records": records}).encode() for form, records in rows.items()}


def server_environment(tracking_uri: str | None) -> dict[str, str]:
    """The server's environment: ``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the project's store.

    The project's store (``./mlruns/mlflow.db``, as the commands use it) is named only when it
    exists, so that serving a model folder leaves no empty ``./mlruns`` behind.
    """
    env = dict(os.environ)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    elif "MLFLOW_TRACKING_URI" not in env and Path("mlruns/mlflow.db").exists():
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path('mlruns/mlflow.db').absolute()}"
    return env


def start_server(model_uri: str, tracking_uri: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow models serve`` on a free port, its output in ``log``; returns the process and its URL once ``/ping`` answers.

    Raises:
        UserError: when the server stops first (quoting the end of its log) or does not answer in 300 s.
    """
    from digit_experiments.core.errors import UserError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
             "--host", "127.0.0.1", "-p", str(port), "--workers", "1"],
            env=server_environment(tracking_uri), start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=2)
            return process, url
        except OSError:
            if process.poll() is not None:
                last = " | ".join(line.strip() for line in log.read_text(errors="replace").splitlines()[-5:] if line.strip())
                raise UserError(f"mlflow models serve -m {model_uri} exited with status {process.returncode}: {last} "
                                f"(full log: {log}). Check the model URI and --tracking-uri.") from None
            time.sleep(1)
    os.killpg(process.pid, signal.SIGTERM)
    raise UserError(f"mlflow models serve -m {model_uri} did not answer /ping within 300 s; its log is {log}.")


def timed_requests(url: str, body: bytes, count: int) -> list[float]:
    """Seconds per request for ``count`` requests, after two untimed warm-up requests."""
    seconds = []
    for index in range(count + 2):
        request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200
            response.read()
        if index >= 2:
            seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--tracking-uri", help="the MLflow store of a runs:/ or models:/ URI "
                                               "(default: $MLFLOW_TRACKING_URI, else ./mlruns/mlflow.db)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DIGITS_DATA_DIR", "data")))
    parser.add_argument("--batch", type=positive, default=256)
    parser.add_argument("--requests", type=positive, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS / "serving_throughput.json")
    args = parser.parse_args()
    check_outputs(args)

    bodies = payloads(args.data_dir, args.batch)
    log = Path(tempfile.gettempdir()) / f"mlflow-serve-{os.getpid()}.log"
    process, url = start_server(args.model_uri, args.tracking_uri, log)
    try:
        forms = {}
        for form, body in bodies.items():
            seconds = timed_requests(url, body, args.requests)
            median = float(np.median(seconds))
            forms[form] = {
                "request_mb": round(len(body) / 1e6, 2),
                "median_s": round(median, 4),
                "p90_s": round(float(np.percentile(seconds, 90)), 4),
                "images_per_s": round(args.batch / median, 1),
            }
            print(f"{form:<11} {forms[form]['request_mb']:>6} MB  median {median * 1000:7.1f} ms  "
                  f"p90 {forms[form]['p90_s'] * 1000:7.1f} ms  {forms[form]['images_per_s']:>8} images/s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        log.unlink()
    report = {"model_uri": args.model_uri, "batch": args.batch, "requests": args.requests,
              "machine": machine(), "forms": forms}
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
