"""A timed fuzzing campaign over the dataset loaders: ``python -m fuzz.campaign``.

Runs each target of :mod:`fuzz.targets` for ``--minutes`` (10 by default)
with fresh random Hypothesis inputs, counts executions, and records every
finding: an exception other than ``DataError``/``UserError``, shrunk by
Hypothesis to a small input, saved under ``fuzz/findings/`` to replay.
A hard crash (a segfault in a native decoder) ends the process, and the
target's report says it did not finish. Prints a table and saves JSON::

    python -m fuzz.campaign                              # every target, 10 minutes each
    python -m fuzz.campaign --targets idx usps_h5 --minutes 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from fuzz.targets import TARGETS, Target, check, inputs

FINDINGS = Path(__file__).parent / "findings"
REPORT = Path(__file__).parents[1] / "benchmarks" / "results" / "fuzz_campaign.json"
#: Inputs per Hypothesis run; the campaign starts runs until its time is up.
BATCH = 200


def fuzz_target(target: Target, seconds: float) -> dict[str, object]:
    """Fuzz ``target`` for ``seconds``; return executions, rate and findings."""
    executions = 0
    findings: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + seconds

    @settings(max_examples=BATCH, database=None, deadline=None, derandomize=False, suppress_health_check=list(HealthCheck))
    @given(inputs(target))
    def one_input(data: bytes) -> None:
        nonlocal executions
        executions += 1
        one_input.last = data
        with tempfile.TemporaryDirectory() as folder:
            check(target, data, Path(folder))

    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            one_input()
        except Exception as error:  # noqa: BLE001  (every other exception is a finding)
            signature = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            if signature not in findings:
                findings[signature] = _save_finding(target.name, one_input.last, error)
    elapsed = time.monotonic() - started
    return {
        "target": target.name, "seconds": round(elapsed, 1), "executions": executions,
        "per_second": round(executions / elapsed, 1), "findings": list(findings.values()),
    }


def _save_finding(name: str, data: bytes, error: Exception) -> dict[str, str]:
    """Save the (shrunk) input that raised ``error``; return its description."""
    FINDINGS.mkdir(exist_ok=True)
    path = FINDINGS / f"{name}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return {"error": f"{type(error).__name__}: {error}"[:500], "where": f"{frame.filename}:{frame.lineno}", "input": str(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--minutes", type=float, default=10.0, help="per target")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args()
    os.environ.setdefault("DIGITS_CACHE_DIR", tempfile.mkdtemp(prefix="fuzz-cache-"))
    logging.getLogger("digit_experiments").setLevel(logging.ERROR)  # skipped-input warnings are expected here
    results = []
    for name in args.targets:
        print(f"Fuzzing {name} for {args.minutes:g} min ...", flush=True)
        results.append(fuzz_target(TARGETS[name], args.minutes * 60))
        result = results[-1]
        print(f"  {result['executions']} executions ({result['per_second']}/s), {len(result['findings'])} findings", flush=True)
        for finding in result["findings"]:
            print(f"    {finding['error'].splitlines()[0]} at {finding['where']} (input: {finding['input']})", flush=True)
    print("\n| target | minutes | executions | per second | findings |\n| --- | --- | --- | --- | --- |")
    for result in results:
        print(f"| {result['target']} | {result['seconds'] / 60:.1f} | {result['executions']} | {result['per_second']} | {len(result['findings'])} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"processor": platform.processor() or platform.machine(), "python": platform.python_version()},
              "results": results}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
