"""Which trained models to average, chosen on the validation split only.

Scores each model once on the MNIST validation split its members share
(``split_seed`` 42, as ``experiment=ensemble`` sets) and on the MNIST test set,
as they are and averaged over the shipped test-time views. It then builds an
ensemble by forward selection on validation (Caruana et al. 2004): from the
empty set, add the model that most raises validation accuracy (ties: the lower
validation loss), up to ``--max-members``. Only the chosen set, every member,
and the ensemble of all models are then scored on the test set, which chooses
nothing. Every model is loaded before any is scored, so a wrong reference
stops the benchmark at once. Probabilities are cached per model under
``--cache``, keyed by the split seed and what the model is (its members'
training runs, or a file's size and modification time), so a new model costs
one scoring and a retrained one, or an alias moved to another version, is
scored again::

    python benchmarks/ensemble_members.py --models runs:/<id 1>/model runs:/<id 2>/model ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from common import (  # noqa: E402
    RESULTS, check_outputs, ensemble_splits, import_tensorflow_quietly, load_models, machine, model_arguments, model_probabilities, positive, run, save_report,
)


def cache_key(model, split_seed: int) -> str:
    """What a model's cached probabilities depend on: the split seed and each member's identity, hashed.

    A member is its training run when known (a moved ``models:/<name>@alias`` names another run),
    else its file's (or its folder's files') path, size and latest modification time (a retrained ``.keras`` file).
    """
    def identity(member) -> str:
        if member.run_id:
            return f"run {member.run_id} {member.uri}"
        path = Path(member.uri).expanduser().absolute()
        stats = [path.stat()] if path.is_file() else [file.stat() for file in path.rglob("*") if file.is_file()]
        return f"files {path} {sum(s.st_size for s in stats)} {max(s.st_mtime_ns for s in stats)}"

    identities = [identity(member) for member in model.members]
    return hashlib.sha256(json.dumps([split_seed, identities]).encode()).hexdigest()[:16]


def cached_probabilities(model, key: str, sets: dict[str, np.ndarray], cache: Path) -> dict[str, np.ndarray]:
    """``{"<set>" and "<set>_tta": (n, 10) probabilities}`` of one loaded model, from the cache (``key``, :func:`cache_key`) or scored now."""
    path = cache / f"{key}.npz"
    if path.exists():
        return dict(np.load(path))
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
    model_arguments(parser, "each is one candidate member")
    parser.add_argument("--max-members", type=positive, default=5)
    parser.add_argument("--split-seed", type=int, default=42, help="the members' dataset.split_seed")
    parser.add_argument("--cache", type=Path, default=Path("outputs/ensemble_members_cache"))
    parser.add_argument("--output", type=Path, default=RESULTS / "ensemble_members.json")
    args = parser.parse_args()
    check_outputs(args, folders=("cache",))
    import_tensorflow_quietly()

    models = load_models(args.models, args.top)
    splits = ensemble_splits(args.split_seed)
    sets = {"val": (splits.val_images, splits.val_labels), "test": splits.tests["mnist"]}
    images = {name: images for name, (images, _) in sets.items()}
    probs = [cached_probabilities(model, cache_key(model, args.split_seed), images, args.cache) for model in models.values()]

    rows = []
    for views in ("identity", "tta"):
        rows += [row(uri, [i], probs, sets, views) for i, uri in enumerate(models)]
        rows.append(row("all", list(range(len(probs))), probs, sets, views))
        chosen = forward_selection([p[probability_key("val", views)] for p in probs], *sets["val"], args.max_members)
        rows.append(row("chosen on validation", chosen, probs, sets, views))
    for r in rows:
        print(f"{r['views']:8} {r['ensemble']:45} members {str(r['members']):16} val {r['val_accuracy']:.4f} "
              f"({r['val_loss']:.4f})  test {r['test_accuracy']:.4f}")
    save_report({"machine": machine(), "models": list(models), "top": args.top, "split_seed": args.split_seed, "rows": rows}, args.output)


if __name__ == "__main__":
    run(main)
