"""Digits scanned to fill their frame, as some public digit sets were (Semeion's 16×16 binary scans).

Takes the MNIST and USPS test digits (USPS is test-only in ``dataset=unseen_usps``,
so a robust model never saw its writers), stretches each one's ink box, width and
height apart, to fill a 16×16 frame, thresholds it to black and white, and saves
them as dark-ink-on-white PNGs of that native size under
``<images>/<source>/<digit>/``, so ``predict`` can read them as a user's folder
would. It then scores each model on them through ``predict``'s standardisation,
and prints and saves accuracy per source with the errors per true digit::

    python benchmarks/box_filled.py --models runs:/<run>/model "sweep:<parent run id>" "[runs:/<a>/model,runs:/<b>/model]"

With ``--split validation`` it uses the MNIST validation images of ``dataset=unseen_usps``
instead (split seed 42 by default, the one the ensemble recipes pin), so that a recipe's
options, such as ``augment.styles.box_filled.p``, are chosen on images no test set holds.

A plain 1 stretched to fill a square is a block, and a 9 is as wide as it is tall;
MNIST-trained models read most such 1s as other digits. ``augment.styles.box_filled``
trains on frames of this kind (among others, 16-28 px high, 0.7-1.0 as wide as
high, half of them binary), so, as for MNIST-C's corruptions, a model trained with
it has seen the transformation, though never these writers.
"""

from __future__ import annotations

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from digit_experiments.augment.styles import fill_frame  # noqa: E402
from digit_experiments.dataset.standardise import standardise_images  # noqa: E402

from common import digit_sets, image_set_arguments, load_models, machine, predicted_digits, report_progress, run, save_pngs, save_report  # noqa: E402

SIDE = 16


def frame_filled(images: np.ndarray) -> list[np.ndarray]:
    """Each standardised digit stretched to fill a binary 16×16 frame, as dark ink on white paper."""
    frames = [fill_frame(image, SIDE, SIDE, binary=True) for image in images]
    return [(255 - (np.zeros((SIDE, SIDE)) if frame is None else frame)).astype(np.uint8) for frame in frames]


def main() -> None:
    args = image_set_arguments(__doc__, "box_filled", split=True)
    models = load_models(args.models, args.top)
    sets = {}
    for source, (images, labels) in digit_sets(args.split, args.split_seed, args.limit).items():
        frames = frame_filled(images)
        save_pngs(frames, labels, args.images / source)
        sets[source] = (standardise_images(frames), labels, images)
    results = {}
    for index, (reference, model) in enumerate(models.items(), start=1):
        results[reference] = {}
        for source, (filled, labels, plain) in sets.items():
            wrong = predicted_digits(model, filled) != labels
            plain_accuracy = float((predicted_digits(model, plain) == labels).mean())
            results[reference][source] = {
                "accuracy": float(1 - wrong.mean()), "plain_accuracy": plain_accuracy,
                "errors_by_digit": np.bincount(labels[wrong], minlength=10).tolist(),
            }
        report_progress(index, len(args.models), reference,
                        {f"{source} frame-filled": row["accuracy"] for source, row in results[reference].items()})
    print("| model | source | n | plain | frame-filled | errors by true digit 0-9 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for reference, by_source in results.items():
        for source, row in by_source.items():
            print(f"| {reference} | {source} | {len(sets[source][1])} | {100 * row['plain_accuracy']:.2f} | "
                  f"{100 * row['accuracy']:.2f} | {' '.join(map(str, row['errors_by_digit']))} |")
    save_report({"machine": machine(), "side": SIDE, "split": args.split, "limit": args.limit, "top": args.top, "accuracy": results}, args.output)


if __name__ == "__main__":
    run(main)
