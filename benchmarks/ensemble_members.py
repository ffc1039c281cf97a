"""Which trained models to average, chosen on the validation split only.

Scores each model once on the MNIST validation split its members share
(``split_seed`` 42, as ``experiment=ensemble`` sets) and on the MNIST test set,
as they are and averaged over the shipped test-time views. It then builds an
ensemble by forward selection on validation (Caruana et al. 2004): from the
empty set, add the model that most raises validation accuracy (ties: the lower
validation loss), up to ``--max-members``. Only the chosen set, every member,
and the ensemble of all models are then scored on the test set, which chooses
nothing. Probabilities are cached per model under ``--cache``, so a new model
costs one scoring::

    python benchmarks/ensemble_members.py --models runs:/<id 1>/model runs:/<id 2>/model ...
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from common import connect_tracking, ensemble_splits, machine, member_model, model_probabilities, run, save_report  # noqa: E402


def cached_probabilities(uri: str, sets: dict[str, np.ndarray], cache: Path) -> dict[str, np.ndarray]:
    """``{"<set>" and "<set>_tta": (n, 10) probabilities}`` of one model, from the cache or scored now."""
    path = cache / (hashlib.sha256(uri.encode()).hexdigest()[:16] + ".npz")
    if path.exists():
        return dict(np.load(path))
    model = member_model(uri)
    scored = {}
    for name, images in sets.items():
        scored[probability_key(name, "identity")] = model_probabilities(model, images)
        scored[probability_key(name, "tta")] = model_probabilities(model, images, tta=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **scored)
    return scored


def probability_key(split: str, views: str) -> str:
    """The :func:`cached_probabilities` key of ``split`` (val, test) scored with ``views`` (identity, tta)."""
    return split if views == "identity" else f"{split}_tta"


def forward_selection(val_probs: list[np.ndarray], images: np.ndarray, labels: np.ndarray, max_members: int) -> list[int]:
    """Indices of the models chosen greedily on validation accuracy (then loss), best first.

    Args:
        val_probs: Per model, its ``(n, 10)`` validation probabilities.
        images / labels: The validation images and labels.
        max_members: The most models to choose.

    Returns:
        The chosen indices, in the order they were added.
    """
    from digit_experiments.inference.scoring import Scores

    chosen: list[int] = []
    for _ in range(min(max_members, len(val_probs))):
        def merit(index: int) -> tuple[float, float]:
            scores = Scores(images, labels, np.mean([val_probs[i] for i in chosen + [index]], 0))
            return scores.accuracy, -scores.loss

        chosen.append(max((i for i in range(len(val_probs)) if i not in chosen), key=merit))
    return chosen


def row(name: str, members: list[int], probs: list[dict], sets: dict[str, tuple], views: str) -> dict:
    """Validation and test accuracy of the mean of ``members``' probabilities.

    Args:
        name: The row's name.
        members: Indices into ``probs``.
        probs: Per model, :func:`cached_probabilities`.
        sets: ``{"val" | "test": (images, labels)}``.
        views: ``identity`` or ``tta`` (the shipped test-time views).
    """
    from digit_experiments.inference.scoring import Scores

    val = Scores(*sets["val"], np.mean([probs[i][probability_key("val", views)] for i in members], 0))
    test = Scores(*sets["test"], np.mean([probs[i][probability_key("test", views)] for i in members], 0))
    return {"ensemble": name, "views": views, "members": members, "val_accuracy": val.accuracy,
            "val_loss": val.loss, "test_accuracy": test.accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="model references, as evaluate's model_uri")
    parser.add_argument("--max-members", type=int, default=5)
    parser.add_argument("--split-seed", type=int, default=42, help="the members' dataset.split_seed")
    parser.add_argument("--cache", type=Path, default=Path("outputs/ensemble_members_cache"))
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "ensemble_members.json")
    args = parser.parse_args()

    connect_tracking()
    splits = ensemble_splits(args.split_seed)
    sets = {"val": (splits.val_images, splits.val_labels), "test": splits.tests["mnist"]}
    probs = [cached_probabilities(uri, {name: images for name, (images, _) in sets.items()}, args.cache) for uri in args.models]

    rows = []
    for views in ("identity", "tta"):
        rows += [row(uri, [i], probs, sets, views) for i, uri in enumerate(args.models)]
        rows.append(row("all", list(range(len(probs))), probs, sets, views))
        chosen = forward_selection([p[probability_key("val", views)] for p in probs], *sets["val"], args.max_members)
        rows.append(row("chosen on validation", chosen, probs, sets, views))
    for r in rows:
        print(f"{r['views']:8} {r['ensemble']:45} members {str(r['members']):16} val {r['val_accuracy']:.4f} "
              f"({r['val_loss']:.4f})  test {r['test_accuracy']:.4f}")
    save_report({"machine": machine(), "models": args.models, "rows": rows}, args.output)


if __name__ == "__main__":
    run(main)
