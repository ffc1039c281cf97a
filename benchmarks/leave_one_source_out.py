"""Leave one source out: train on every source but one, score on all, for each source in turn.

The held-out source is marked ``test_only`` (``dataset.sources.<name>.test_only=true``),
so none of its images is trained or validated on, and its test set measures
handwriting the model never saw. One more run trains on every source, for
the accuracy each source reaches when seen. Each run is the real training
run (``digit_experiments.training.experiment.run``) in a throw-away MLflow
store; its test metrics are read back from that store. Prints a table (rows:
the held-out source; columns: test accuracy per source, the unseen one
starred) and saves JSON. Full runs take hours on 2 cores::

    DIGITS_DATA_DIR=../shared/data python benchmarks/leave_one_source_out.py --recipe seed_mix
    DIGITS_DATA_DIR=../shared/data python benchmarks/leave_one_source_out.py --overrides debug=smoke   # a quick check
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

from common import RESULTS, check_outputs, compose_recipe, import_tensorflow_quietly, machine, run, save_report, workdir_store  # noqa: E402

NOTHING_HELD_OUT = "(none)"


def run_metrics(store: str, output_dir: Path) -> dict[str, float]:
    """The final metrics of the run just trained in ``output_dir``, read from ``store``.

    The run is found by its output folder and is the newest there: a reused ``--workdir`` holds
    earlier runs of the same name and folder.
    """
    import mlflow

    from digit_experiments.tracking import OUTPUT_DIR_TAG

    client = mlflow.MlflowClient(store)
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    (trained,) = client.search_runs(experiment_ids, filter_string=f"tags.{OUTPUT_DIR_TAG} = '{output_dir}'",
                                    order_by=["attributes.start_time DESC"], max_results=1)
    return trained.data.metrics


def test_accuracies(metrics: dict[str, float]) -> dict[str, float]:
    """``{source: test accuracy}`` from a run's metrics."""
    return {
        key[len("test_"):-len("_accuracy")]: value
        for key, value in metrics.items()
        if key.startswith("test_") and key.endswith("_accuracy") and key != "test_accuracy"
    }


def required_sources(cfg) -> list[str]:
    """The recipe's sources, without the optional ones (``required: false``; name them with ``--sources``)."""
    return [name for name, options in cfg.dataset.sources.items() if (options or {}).get("required", True)]


def plan(recipe: str, overrides: list[str], workdir: Path, held_out: str | None) -> tuple[str | None, list[str], object]:
    """The run that holds ``held_out`` out as a test-only source (None: nothing held out), composed and checked.

    Returns:
        ``(held_out, the run's overrides, its config)``, for :func:`held_out_run`.
    """
    name = f"without-{held_out}" if held_out else "all-sources"
    run_overrides = [*overrides, *([f"++dataset.sources.{held_out}.test_only=true"] if held_out else [])]
    return held_out, run_overrides, compose_recipe(recipe, run_overrides, workdir, name)


def check_sources(sources: list[str], cfg, recipe: str) -> None:
    """Raise a UserError, before anything trains, when a source to hold out is not one of the recipe's."""
    from digit_experiments.core.errors import UserError

    unknown = [source for source in sources if source not in cfg.dataset.sources]
    if unknown:
        raise UserError(f"--sources {' '.join(unknown)}: experiment={recipe} has no such source. Its sources are "
                        f"{', '.join(cfg.dataset.sources)}; name some of them (or add one with --overrides).")


def held_out_run(held_out: str | None, overrides: list[str], cfg, store: str) -> dict:
    """Train one run of :func:`plan` and read its figures back from ``store``.

    Returns:
        The row: held-out source, test accuracy per source, the epoch selected on validation,
        the epochs trained and the run's wall time (loading, training and testing).
    """
    from digit_experiments.training import experiment

    name = cfg.tracking.run_name
    print(f"--- {name} ---", flush=True)
    started = time.monotonic()
    experiment.run(cfg, overrides)
    wall_seconds = round(time.monotonic() - started, 1)
    metrics = run_metrics(store, Path(cfg.paths.output_dir))
    print(f"--- {name}: {wall_seconds / 60:.1f} min ---", flush=True)
    return {
        "held_out": held_out or NOTHING_HELD_OUT,
        "test_accuracy": test_accuracies(metrics),
        "best_epoch": int(metrics["best_epoch"]),
        "epochs_trained": int(metrics["epochs_trained"]),
        "wall_seconds": wall_seconds,
    }


def table(rows: list[dict]) -> str:
    """Markdown: one row per held-out source, one column per test set; the unseen source's cell starred."""
    sources = sorted({source for row in rows for source in row["test_accuracy"]})
    lines = ["| held out | " + " | ".join(sources) + " |", "| --- |" + " --- |" * len(sources)]
    for row in rows:
        cells = [
            f"**{100 * row['test_accuracy'][s]:.2f}** *" if s == row["held_out"] else f"{100 * row['test_accuracy'][s]:.2f}"
            for s in sources
        ]
        lines.append(f"| {row['held_out']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n\\* never seen in training or validation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="seed_mix", help="an experiment whose dataset has several sources")
    parser.add_argument("--sources", nargs="+", help="sources to hold out in turn (default: the recipe's required sources)")
    parser.add_argument("--overrides", nargs="*", default=[], help="overrides for every run, e.g. epochs=6")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also train on every source, for the accuracy each reaches when seen (--no-baseline skips it)")
    parser.add_argument("--workdir", type=Path, help="keep the runs' outputs and MLflow store here (default: a temporary folder)")
    parser.add_argument("--output", type=Path, default=RESULTS / "leave_one_source_out.json")
    args = parser.parse_args()
    check_outputs(args, folders=("workdir",))
    import_tensorflow_quietly()
    with tempfile.TemporaryDirectory() as folder:
        workdir = (args.workdir or Path(folder)).absolute()
        store = workdir_store(workdir)
        recipe = compose_recipe(args.recipe, args.overrides, workdir, "probe")
        check_sources(args.sources or [], recipe, args.recipe)
        held_out = ([None] if args.baseline else []) + (args.sources or required_sources(recipe))
        runs = [plan(args.recipe, args.overrides, workdir, source) for source in held_out]  # every mistake before any training
        about = machine()
        print(f"CPU flags: {' '.join(about['cpu_flags'])}; precision: {about['precision']}")
        rows = [held_out_run(*planned, store) for planned in runs]
    print(table(rows))
    save_report({"machine": about, "recipe": args.recipe, "overrides": args.overrides, "rows": rows}, args.output)


if __name__ == "__main__":
    run(main)
