"""Time to accuracy: test accuracy against wall time, epoch by epoch, for several recipes side by side.

For each recipe (``experiment=<name>``, default ``fast`` and ``seed``) it runs
the real training run (``digit_experiments.training.experiment.run``, tracked
in a throw-away MLflow store) with one extra callback that, after every
epoch, records the training wall time so far and scores the model of that
epoch on the MNIST test set. That score is a measurement only: it is never
seen by the run, which selects its epoch on validation data as always.

It prints, per recipe, the first epoch and second at which 99.0, 99.5, 99.6
and 99.7 % test accuracy are reached, and saves the JSON and a plot of test
accuracy against time. Usage (the full run takes 1-3 hours on 2 cores)::

    DIGITS_DATA_DIR=../shared/data python benchmarks/time_to_accuracy.py
    DIGITS_DATA_DIR=../shared/data python benchmarks/time_to_accuracy.py --recipes fast seed --overrides trainer.precision=float32
    DIGITS_DATA_DIR=../shared/data python benchmarks/time_to_accuracy.py --overrides debug=smoke   # a quick check
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

from omegaconf import OmegaConf  # noqa: E402

from common import RESULTS, check_output, check_outputs, compose_recipe, import_tensorflow_quietly, machine, run, save_report, workdir_store  # noqa: E402

THRESHOLDS = (0.990, 0.995, 0.996, 0.997)


def measure(recipe: str, overrides: list[str], cfg) -> dict:
    """Train ``recipe`` once, as composed in ``cfg`` (:func:`compose_recipe`), and return its per-epoch figures and thresholds."""
    from digit_experiments.dataset import load_dataset
    from digit_experiments.training import experiment

    from callbacks import TestAccuracyProbe

    config = OmegaConf.to_container(cfg, resolve=True)
    splits = load_dataset(data_dir=Path(config["paths"]["data_dir"]).absolute(), seed=config["seed"], **config["dataset"])
    probe = TestAccuracyProbe(*splits.tests["mnist"])
    experiment.run(cfg, [f"experiment={recipe}", *overrides], extra_callbacks=[probe])
    reached = {}
    for threshold in THRESHOLDS:
        first = next((e for e in probe.epochs if e["test_accuracy"] >= threshold), None)
        reached[f"{threshold:.3f}"] = {"epoch": first["epoch"], "seconds": round(first["seconds"])} if first else None
    return {"recipe": recipe, "overrides": overrides, "epochs": probe.epochs, "reached": reached}


def axis_floor(results: list[dict]) -> float:
    """The plot's lowest accuracy (%): 98.5, the band full runs end in, or lower when a short run's figures fall below it."""
    lowest = min((100 * e["test_accuracy"] for result in results for e in result["epochs"]), default=100.0)
    return 98.5 if lowest >= 98.5 else max(0.0, lowest - 0.5)


def plot(results: list[dict], output: Path) -> None:
    """Test accuracy against training time, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for result in results:
        seconds = [e["seconds"] / 60 for e in result["epochs"]]
        axis.plot(seconds, [100 * e["test_accuracy"] for e in result["epochs"]], marker="o", label=result["recipe"])
    axis.set(xlabel="training time (minutes)", ylabel="MNIST test accuracy (%)", ylim=(axis_floor(results), 100), title="Time to accuracy")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.savefig(output, dpi=100, bbox_inches="tight")
    plt.close(figure)
    print(f"saved {output}")


def default_output(overrides: list[str]) -> Path:
    """``results/time_to_accuracy[-<overrides>].json``: runs with different overrides keep their own files."""
    suffix = re.sub(r"[^\w.-]", "_", "-".join(overrides))[:60]
    return RESULTS / ("time_to_accuracy" + (f"-{suffix}" if suffix else "") + ".json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["fast", "seed"])
    parser.add_argument("--overrides", nargs="*", default=[], help="overrides for every recipe, e.g. trainer.precision=float32")
    parser.add_argument("--workdir", type=Path, help="keep the runs' outputs and MLflow store here (default: a temporary folder)")
    parser.add_argument("--output", type=Path, help="the JSON to write, the plot beside it (default: results/time_to_accuracy-<overrides>.json)")
    args = parser.parse_args()
    args.output = args.output or default_output(args.overrides)
    check_outputs(args, folders=("workdir",))
    check_output("--output (the plot beside it)", args.output.with_suffix(".png"))
    import_tensorflow_quietly()
    precision = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("trainer.precision=")), "auto")
    with tempfile.TemporaryDirectory() as folder:
        workdir = (args.workdir or Path(folder)).absolute()
        workdir_store(workdir)
        configs = [compose_recipe(recipe, args.overrides, workdir) for recipe in args.recipes]  # every mistake before any training
        about = machine(precision)
        print(f"CPU flags: {' '.join(about['cpu_flags'])}; precision: {about['precision']}")
        results = [measure(recipe, args.overrides, cfg) for recipe, cfg in zip(args.recipes, configs)]
    for result in results:
        print(f"{result['recipe']}: " + "; ".join(
            f"{100 * float(t):.1f} % " + (f"at epoch {r['epoch']} ({r['seconds']} s)" if r else "not reached")
            for t, r in result["reached"].items()
        ))
    save_report({"machine": about, "results": results}, args.output)
    plot(results, args.output.with_suffix(".png"))


if __name__ == "__main__":
    run(main)
