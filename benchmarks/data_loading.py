"""Cold and warm load times of a dataset config: how much the standardised-array cache saves.

Loads the configured sources twice through :func:`digit_experiments.dataset.load_dataset`,
first with an empty cache (every file decoded and standardised; not_mnist's
107,730 PNGs dominate) and then with the cache just filled, and prints and
saves both times. The cache lives in a temporary folder, so the user's own
cache is neither used nor touched. Usage::

    DIGITS_DATA_DIR=../shared/data python benchmarks/data_loading.py            # the seed mix
    DIGITS_DATA_DIR=../shared/data python benchmarks/data_loading.py --dataset mnist
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import RESULTS, check_outputs, group_config, machine, run, save_report


def timed_load(config: dict, data_dir: Path) -> tuple[float, str]:
    """Seconds to load ``config`` and the split summary."""
    from digit_experiments.dataset import load_dataset

    start = time.perf_counter()
    splits = load_dataset(data_dir=data_dir, seed=42, **config)
    return time.perf_counter() - start, splits.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mix", help="a dataset config name (conf/dataset/)")
    parser.add_argument("--output", type=Path, default=RESULTS / "data_loading.json")
    args = parser.parse_args()
    check_outputs(args)

    data_dir = Path(os.environ.get("DIGITS_DATA_DIR", "data")).resolve()
    config = group_config("dataset", args.dataset)
    with tempfile.TemporaryDirectory(prefix="digits-cache-") as cache:
        os.environ["DIGITS_CACHE_DIR"] = cache
        cold, summary = timed_load(config, data_dir)
        warm, _ = timed_load(config, data_dir)
    report = {"dataset": args.dataset, "splits": summary, "cold_seconds": cold, "warm_seconds": warm,
              "machine": machine()}
    print(f"dataset={args.dataset}: {summary}")
    print(f"cold load (empty cache): {cold:7.1f} s")
    print(f"warm load (cache hit):   {warm:7.1f} s   ({cold / warm:.0f}x faster)")
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
