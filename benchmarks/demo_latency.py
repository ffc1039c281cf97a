"""Latency of the demo page in Chromium: from lifting the pointer to the answer on screen.

Starts the real demo (``python -m digit_experiments.demo model_uri=... port=0``),
opens it in headless Chromium (Debian's ``/usr/bin/chromium``, the tests'
flags) and draws ``--strokes`` digits with the mouse, cycling through a few
shapes and clearing the pad between them. For each, the page records the
time from ``pointerup`` to the frame after its answer is shown
(``window.demoStats.lastLatencyMs``, measured with ``performance.now()``) and the
server's own time (decode, standardise, score). The first ``--warm-up`` strokes
are not counted. Prints the median and 90th percentile, saves them as JSON, and
saves a screenshot of the page after drawing a 7 (for the README)::

    python benchmarks/demo_latency.py --model-uri outputs/<date>/<time>-<pid>/checkpoints/best.keras
    python benchmarks/demo_latency.py --model-uri runs:/<run id>/model --tracking-uri sqlite:///mlruns/mlflow.db
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import RESULTS, check_outputs, machine, non_negative, positive, run, save_report

CHROMIUM = "/usr/bin/chromium"
#: As tests/helpers/browser.py: no sandbox (root in CI) and no background connections to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Digits drawn in one stroke each, as points in [0, 1] x [0, 1] of the pad.
SHAPES = {
    "1": [(0.5, 0.15), (0.52, 0.85)],
    "7": [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)],
    "2": [(0.3, 0.3), (0.5, 0.18), (0.7, 0.3), (0.65, 0.45), (0.3, 0.82), (0.75, 0.82)],
    "0": [(0.5 + 0.22 * math.sin(a), 0.5 - 0.32 * math.cos(a)) for a in np.linspace(0, 2 * math.pi, 17)],
    "4": [(0.6, 0.85), (0.6, 0.15), (0.25, 0.6), (0.78, 0.6)],
}
_URL = re.compile(r"Demo page on (http://\S+)")


def check_browser() -> None:
    """Raise a UserError, before the demo starts, when Chromium or Playwright is missing."""
    from digit_experiments.core.errors import UserError

    if not os.access(CHROMIUM, os.X_OK):
        raise UserError(f"Chromium is not installed at {CHROMIUM}, and this benchmark drives it to draw on the demo page. "
                        "Install it with `apt-get install chromium` (Debian, Ubuntu) and run again.")
    if importlib.util.find_spec("playwright") is None:
        raise UserError("Playwright is not installed, and this benchmark drives Chromium with it. "
                        "Install it with `pip install playwright` and run again.")


def start_demo(model_uri: str, tracking_uri: str | None, workdir: Path, timeout: float = 300) -> tuple[subprocess.Popen, str]:
    """Start the demo on a free port; return the process and its URL once the log line names it.

    Raises:
        UserError: when the demo stops (or stays silent ``timeout`` seconds) before it serves, quoting its log.
    """
    from digit_experiments.core.errors import UserError

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    command = [sys.executable, "-m", "digit_experiments.demo", f"model_uri={model_uri}", "port=0",
               f"hydra.run.dir={workdir}"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    found: list[str] = []
    lines: list[str] = []

    def read_log() -> None:  # keeps draining stderr afterwards, so the server never blocks on a full pipe
        for line in process.stderr:
            lines.append(line)
            match = _URL.search(line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read_log, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            last = " | ".join(line.strip() for line in lines[-5:] if line.strip())
            raise UserError(f"The demo did not start with model_uri={model_uri}: {last or 'no output'}. "
                            "Fix what it names (the model URI, --tracking-uri) and run again.")
        time.sleep(0.2)
    return process, found[0]


def draw(page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (fractions of the pad), with pointer moves in between as a hand makes."""
    box = page.locator("#pad").bounding_box()
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for point in xy[1:]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()


def timed_stroke(page, digit: str) -> tuple[float, float, str]:
    """Clear, draw ``digit``'s shape, wait for its answer: (ms pointer up → shown, server ms, digit shown)."""
    page.click("#clear")
    before = page.evaluate("window.demoStats.finalAnswers")
    draw(page, SHAPES[digit])
    page.wait_for_function(f"window.demoStats.finalAnswers > {before}", timeout=60_000)
    stats = page.evaluate("window.demoStats")
    return stats["lastLatencyMs"], stats["lastServerMs"], page.text_content("#digit")


def summary(values: list[float]) -> dict[str, float]:
    """Median, 90th percentile, min and max, in ms rounded to 0.1."""
    return {name: round(float(value), 1) for name, value in [
        ("median", np.median(values)), ("p90", np.percentile(values, 90)), ("min", min(values)), ("max", max(values))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-uri", required=True, help="any model_uri the demo takes (runs:/..., models:/..., a .keras file)")
    parser.add_argument("--tracking-uri", help="the MLflow store of a runs:/ or models:/ URI (default: $MLFLOW_TRACKING_URI, else ./mlruns)")
    parser.add_argument("--strokes", type=positive, default=30, help="timed strokes")
    parser.add_argument("--warm-up", type=non_negative, default=3, help="strokes drawn first and not counted")
    parser.add_argument("--output", type=Path, default=RESULTS / "demo_latency.json")
    parser.add_argument("--screenshot", type=Path, default=RESULTS / "demo_page.png")
    args = parser.parse_args()
    check_outputs(args, files=("output", "screenshot"))
    check_browser()

    from playwright.sync_api import sync_playwright

    shapes = list(SHAPES)
    with tempfile.TemporaryDirectory() as workdir:
        process, url = start_demo(args.model_uri, args.tracking_uri, Path(workdir))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1000, "height": 600})
                page.goto(url)
                for i in range(args.warm_up):
                    timed_stroke(page, shapes[i % len(shapes)])
                strokes = [(shapes[i % len(shapes)], *timed_stroke(page, shapes[i % len(shapes)])) for i in range(args.strokes)]
                timed_stroke(page, "7")
                page.wait_for_timeout(300)  # the bars' 80 ms width transition ends
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.screenshot), full_page=True)
                print(f"saved {args.screenshot}")
                chromium = browser.version
                browser.close()
        finally:
            process.terminate()
            process.wait(60)

    latencies = [latency for _, latency, _, _ in strokes]
    server = [server_ms for _, _, server_ms, _ in strokes]
    report = {
        "machine": {**machine(), "load_average_1m": round(os.getloadavg()[0], 2)},
        "chromium": chromium,
        "model_uri": args.model_uri,
        "strokes": len(strokes),
        "pointer_up_to_answer_shown_ms": summary(latencies),
        "server_ms": summary(server),
        "recognised": {shape: f"{sum(d == shape for s, _, _, d in strokes if s == shape)}/{sum(s == shape for s, *_ in strokes)}"
                       for shape in shapes},
        "per_stroke": [{"drawn": s, "shown": d, "latency_ms": round(lat, 1), "server_ms": srv} for s, lat, srv, d in strokes],
    }
    print(f"pointer up -> answer shown: median {report['pointer_up_to_answer_shown_ms']['median']} ms, "
          f"p90 {report['pointer_up_to_answer_shown_ms']['p90']} ms over {len(strokes)} strokes "
          f"(server: median {report['server_ms']['median']} ms, p90 {report['server_ms']['p90']} ms)")
    print("recognised: " + ", ".join(f"{shape} {count}" for shape, count in report["recognised"].items()))
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
