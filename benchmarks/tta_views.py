"""Which test-time views to average, chosen on the validation split only.

Scores each model on every candidate view (rotations, zooms, one-pixel shifts)
of the MNIST validation split the members were checkpointed on (``split_seed``
42, as ``experiment=ensemble`` sets) and of the MNIST test set. It then grows
a view set greedily from the identity: at each step it adds the view that most
lowers the models' mean validation loss of the averaged probabilities, and it
stops when no view lowers it further. Validation loss, not accuracy, decides,
because 6,000 validation images hold only some twenty errors per model. The
test set chooses nothing: it is only reported, for the identity, for the
shipped views (:data:`digit_experiments.inference.tta.TTA_TRANSFORMS`) and for
the chosen set, per model and for the ensemble of all of them::

    python benchmarks/tta_views.py --models runs:/<id 1>/model runs:/<id 2>/model
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from digit_experiments.inference.tta import TTA_TRANSFORMS, affine_view  # noqa: E402

from common import (  # noqa: E402
    RESULTS, check_outputs, ensemble_splits, import_tensorflow_quietly, load_models, machine, model_arguments, model_probabilities, run, save_report,
)

#: Candidate views: (rotation in degrees, scale, (dx, dy) shift in pixels); the identity first.
CANDIDATES = (
    [(0.0, 1.0, (0.0, 0.0))]
    + [(float(a), 1.0, (0.0, 0.0)) for a in (-16, -12, -8, -4, 4, 8, 12, 16)]
    + [(0.0, s, (0.0, 0.0)) for s in (0.85, 0.9, 0.95, 1.05, 1.1, 1.15)]
    + [(0.0, 1.0, shift) for shift in ((-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))]
    + [(a, s, (0.0, 0.0)) for a in (-8.0, 8.0) for s in (0.9, 1.1)]
)
SHIPPED = [CANDIDATES.index((angle, scale, (0.0, 0.0))) for angle, scale in TTA_TRANSFORMS]


def view_probabilities(model, images: np.ndarray) -> np.ndarray:
    """``(views, n, 10)`` probabilities of one model on every candidate view of ``images``."""
    return np.stack([model_probabilities(model, affine_view(images, a, s, shift)) for a, s, shift in CANDIDATES])


def choose_views(val_probs: list[np.ndarray], images: np.ndarray, labels: np.ndarray) -> tuple[list[int], list[float]]:
    """Grow a view set from the identity while the models' mean validation loss falls.

    Args:
        val_probs: Per model, ``(views, n, 10)`` validation probabilities.
        images / labels: The validation images and labels.

    Returns:
        The chosen view indices (identity first) and the mean validation loss after each addition.
    """
    from digit_experiments.inference.scoring import Scores

    def mean_loss(views: list[int]) -> float:
        return float(np.mean([Scores(images, labels, p[views].mean(0)).loss for p in val_probs]))

    chosen, path = [0], [mean_loss([0])]
    while True:
        trials = {v: mean_loss(chosen + [v]) for v in range(len(CANDIDATES)) if v not in chosen}
        best = min(trials, key=trials.get)
        if trials[best] >= path[-1]:
            return chosen, path
        chosen.append(best)
        path.append(trials[best])


def report_rows(names, val_probs, test_probs, val_set, test_set, view_sets) -> list[dict]:
    """Validation and test accuracy of each model, and of their ensemble, for each named view set.

    Args:
        names: The model references.
        val_probs / test_probs: Per model, ``(views, n, 10)`` probabilities.
        val_set / test_set: ``(images, labels)``.
        view_sets: ``{name: view indices}``.
    """
    from digit_experiments.inference.scoring import Scores

    rows = []
    for set_name, views in view_sets.items():
        per_model = [(name, val[views].mean(0), test[views].mean(0)) for name, val, test in zip(names, val_probs, test_probs)]
        if len(names) > 1:
            per_model.append(("ensemble", np.mean([v for _, v, _ in per_model], 0), np.mean([t for _, _, t in per_model], 0)))
        for name, val, test in per_model:
            val_scores = Scores(*val_set, val)
            rows.append({"views": set_name, "model": name, "val_accuracy": val_scores.accuracy, "val_loss": val_scores.loss,
                         "test_accuracy": Scores(*test_set, test).accuracy})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model_arguments(parser, "each is scored on its own, and in the ensemble of all")
    parser.add_argument("--split-seed", type=int, default=42, help="the members' dataset.split_seed")
    parser.add_argument("--output", type=Path, default=RESULTS / "tta_views.json")
    args = parser.parse_args()
    check_outputs(args)
    import_tensorflow_quietly()

    models = load_models(args.models, args.top)
    splits = ensemble_splits(args.split_seed)
    test_images, test_labels = splits.tests["mnist"]
    val_probs, test_probs = [], []
    for uri, model in models.items():
        started = time.perf_counter()
        val_probs.append(view_probabilities(model, splits.val_images))
        test_probs.append(view_probabilities(model, test_images))
        print(f"{uri}: {len(CANDIDATES)} views scored in {time.perf_counter() - started:.0f} s", flush=True)

    chosen, path = choose_views(val_probs, splits.val_images, splits.val_labels)
    view_sets = {"identity": [0], "shipped": SHIPPED, "chosen on validation": chosen}
    rows = report_rows(list(models), val_probs, test_probs, (splits.val_images, splits.val_labels), (test_images, test_labels), view_sets)
    print("chosen views (angle, scale, shift):", [CANDIDATES[v] for v in chosen])
    print("mean validation loss along the way:", [round(x, 5) for x in path])
    for row in rows:
        print(f"{row['views']:22} {row['model']:45} val {row['val_accuracy']:.4f} ({row['val_loss']:.4f})  test {row['test_accuracy']:.4f}")
    save_report({"machine": machine(), "candidates": CANDIDATES, "chosen": [CANDIDATES[v] for v in chosen],
                 "validation_loss_path": path, "rows": rows}, args.output)


if __name__ == "__main__":
    run(main)
