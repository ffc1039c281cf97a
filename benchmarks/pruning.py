"""Epochs saved by Optuna pruning on a small search, run through the real CLI.

Runs ``python -m digit_experiments.train -m hparams_search=dropout_l2`` in a
temporary folder (its own study database and MLflow store, whatever
``$MLFLOW_TRACKING_URI`` says; the data of ``$DIGITS_DATA_DIR``) with a small
budget, then reads the study back and prints, per trial, its state and the
epochs it trained, and in total the epochs trained against the epochs an
unpruned search would have trained. Usage::

    DIGITS_DATA_DIR=../shared/data python benchmarks/pruning.py --trials 12 --epochs 6 --images 3000

Any further arguments are passed on as Hydra overrides (e.g. ``model=cnn_bn``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from common import RESULTS, check_outputs, child_environment, positive, run, save_report


def run_search(folder: Path, args: argparse.Namespace, overrides: list[str]) -> float:
    """Run the search in ``folder``; return its wall time in seconds.

    The search runs from ``folder``, so the data and cache folders are passed on absolute, and
    its runs go to ``folder``'s MLflow store rather than ``$MLFLOW_TRACKING_URI``'s.
    """
    command = [
        sys.executable, "-m", "digit_experiments.train", "-m", "hparams_search=dropout_l2",
        f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.storage=sqlite:///{folder}/study.db",
        f"epochs={args.epochs}", f"dataset.max_train_images={args.images}", "dataset.max_test_images_per_source=1000",
        f"model={args.model}", "augment=none", "trainer.verbose=0", "tracking.log_model=false", *overrides,
    ]
    start = time.perf_counter()
    status = subprocess.run(command, cwd=folder, env=child_environment()).returncode
    if status:
        from digit_experiments.core.errors import UserError

        raise UserError(f"The search stopped with exit status {status}; its own message is above. Fix what it names and run again.")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=positive, default=12)
    parser.add_argument("--epochs", type=positive, default=6)
    parser.add_argument("--images", type=positive, default=3000, help="training + validation images per trial")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--output", type=Path, default=RESULTS / "pruning.json")
    args, overrides = parser.parse_known_args()
    check_outputs(args)

    with tempfile.TemporaryDirectory(prefix="digits-pruning-") as folder:
        seconds = run_search(Path(folder), args, overrides)
        study = optuna.load_study(study_name="dropout_l2", storage=f"sqlite:///{folder}/study.db")
        trials = [
            {"number": t.number, "state": t.state.name, "epochs": len(t.intermediate_values), "value": t.value}
            for t in study.trials
        ]
    trained = sum(t["epochs"] for t in trials)
    budget = len(trials) * args.epochs
    for t in trials:
        value = "" if t["value"] is None else f"  val_accuracy {t['value']:.4f}"
        print(f"trial {t['number']:3d}  {t['state']:8s}  {t['epochs']} epochs{value}")
    pruned = sum(t["state"] == "PRUNED" for t in trials)
    print(f"{pruned} of {len(trials)} trials pruned; {trained} of {budget} epochs trained "
          f"({budget - trained} saved, {100 * (budget - trained) / budget:.0f} %); search took {seconds:.0f} s")
    report = {"trials": trials, "epochs_trained": trained, "epochs_without_pruning": budget, "seconds": seconds,
              "settings": {**{k: str(v) for k, v in vars(args).items()}, "overrides": overrides}}
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
