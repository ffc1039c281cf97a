"""Digits cropped loosely from a page with specks of dust beside them, as scans and photos of forms are.

Takes the MNIST and USPS test digits (or, with ``--split validation``, MNIST's
validation images of ``dataset=unseen_usps``), places each at a random spot of a
56×56 page and adds 0, 1 or 2 specks (2-3 px squares as dark as its ink) at least
3 px from its ink, saves them as dark-ink-on-white PNGs under
``<images>/<n>_specks/<source>/<digit>/``, so ``predict`` can read them as a
user's folder would, and scores each model on them through ``predict``'s
standardisation::

    python benchmarks/speckled_scans.py --models runs:/<run>/model "sweep:<parent run id>"

A standardisation that crops to every inked pixel makes a digit with a speck far
from it much smaller than MNIST's; the digit's box (``dataset/standardise.py``)
leaves such specks out.
"""

from __future__ import annotations

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from digit_experiments import tracking  # noqa: E402
from digit_experiments.dataset.standardise import standardise_images  # noqa: E402
from digit_experiments.inference.scoring import predict_probabilities  # noqa: E402

from common import digit_sets, group_config, image_set_arguments, load_models, machine, report_progress, run, save_pngs, save_report  # noqa: E402

PAGE = 56
SPECKS = (0, 1, 2)
#: The least gap, in pixels, between a speck and the digit's ink.
CLEARANCE = 3


def speckled_page(digit: np.ndarray, specks: int, rng: np.random.Generator) -> np.ndarray:
    """``digit`` (bright ink, 28×28) at a random spot of a page with ``specks`` specks, as dark ink on white."""
    page = np.zeros((PAGE, PAGE), np.uint8)
    top, left = rng.integers(4, PAGE - 28 - 4, 2)
    page[top : top + 28, left : left + 28] = digit
    rows, columns = np.flatnonzero(page.any(axis=1)), np.flatnonzero(page.any(axis=0))
    placed = 0
    while placed < specks:
        size = int(rng.integers(2, 4))
        y, x = rng.integers(0, PAGE - size, 2)
        beside = rows[0] - CLEARANCE - size < y <= rows[-1] + CLEARANCE and columns[0] - CLEARANCE - size < x <= columns[-1] + CLEARANCE
        if not beside:
            page[y : y + size, x : x + size] = digit.max()
            placed += 1
    return 255 - page


def main() -> None:
    args = image_set_arguments(__doc__, "speckled_scans", split=True)
    tracking.connect(group_config("tracking", "mlflow"))
    models = load_models(args.models, args.top)
    sets = {}
    for source, (images, labels) in digit_sets(args.split, args.split_seed).items():
        for specks in SPECKS:
            rng = np.random.default_rng(specks)
            pages = [speckled_page(image, specks, rng) for image in images if image.any()]
            kept = labels[[bool(image.any()) for image in images]]
            save_pngs(pages, kept, args.images / f"{specks}_specks" / source)
            sets[source, specks] = (standardise_images(pages), kept)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for index, (reference, model) in enumerate(models.items(), start=1):
        results[reference] = {}
        for (source, specks), (standardised, labels) in sets.items():
            accuracy = float((predict_probabilities(model, standardised, 256).argmax(axis=1) == labels).mean())
            results[reference].setdefault(source, {})[f"{specks}_specks"] = accuracy
        report_progress(index, len(models), reference,
                        {f"{source} {specks}": accuracy for source, row in results[reference].items() for specks, accuracy in row.items()})
    print("| model | source | n | " + " | ".join(f"{specks} speck{'' if specks == 1 else 's'}" for specks in SPECKS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in SPECKS) + " |")
    for reference, by_source in results.items():
        for source, row in by_source.items():
            print(f"| {reference} | {source} | {len(sets[source, 0][1])} | " + " | ".join(f"{100 * accuracy:.2f}" for accuracy in row.values()) + " |")
    save_report({"machine": machine(), "page": PAGE, "split": args.split, "top": args.top, "accuracy": results}, args.output)


if __name__ == "__main__":
    run(main)
