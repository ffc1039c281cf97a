"""Digits cropped loosely from a photographed page: specks of dust, a shadow, sensor noise, a form's lines, a neighbour.

Takes the MNIST and USPS test digits (or, with ``--split validation``, MNIST's
validation images of ``dataset=unseen_usps``) and photographs each, as dark ink
on paper lit at 220 grey levels, at a random spot of a 56×56 page, in nine
conditions: clean, with 1 or 2 specks (2-3 px squares as dark as its ink, at
least 3 px from it), under a shadow (the light falls by 120 levels across the
page, in a random direction), with sensor noise (Gaussian, 20 levels), on ruled
paper (a printed line, 1-2 px and half as dark as the ink to as dark, across the
page at a height between the middle of the digit and 2 px below it: written on
the line or struck through by it), on a dashed guide line (the same, in dashes of
3-6 px with gaps of 2-3), in a form's cell (such lines 0-3 px inside
each edge of the page, or on it, boxing the digit in), and beside a neighbour (the
near 30 % of another digit of the set, level with it, cut by the page's left or
right edge, as a crop from a string of digits has). It
saves the pages as PNGs under ``<images>/<condition>/<source>/<digit>/``, so
``predict`` can read them as a user's folder would, and scores each model on
them through ``predict``'s standardisation::

    python benchmarks/loose_scans.py --models runs:/<run>/model "sweep:<parent run id>" "[runs:/<a>/model,runs:/<b>/model]"

A standardisation that crops to every inked pixel, after subtracting one
background level, makes a digit with a speck far from it much smaller than
MNIST's, takes a shadow for ink, and lets noise grow the box to the page;
``dataset/standardise/`` leaves specks and grains of noise out of the digit's
box, divides out a plane of light, erases ruled lines that run across the
page past the digit, and leaves out strokes the crop cuts at its side.
"""

from __future__ import annotations

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

from typing import NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

from digit_experiments.dataset.standardise import standardise_images  # noqa: E402

from common import digit_sets, image_set_arguments, load_models, machine, predicted_digits, report_progress, run, save_pngs, save_report  # noqa: E402

PAGE = 56
PAPER = 220.0


class Condition(NamedTuple):
    """How a page is spoiled: specks beside the digit, the light's fall across the page and the sensor
    noise's standard deviation (in grey levels), the lines printed on it, and a neighbouring digit."""

    specks: int = 0
    fall: float = 0.0
    noise: float = 0.0
    lines: str = "none"  # "none", "ruled" (one line across the page), "dashed" (the same in dashes) or "cell" (a box)
    neighbour: bool = False


CONDITIONS = {
    "clean": Condition(), "1_speck": Condition(specks=1), "2_specks": Condition(specks=2), "shadow": Condition(fall=120.0),
    "noise": Condition(noise=20.0), "ruled": Condition(lines="ruled"), "cell": Condition(lines="cell"),
    "neighbour": Condition(neighbour=True), "dashed": Condition(lines="dashed"),
}
#: How much of the neighbouring digit's width the page shows.
NEIGHBOUR_SHARE = 0.3
#: The least gap, in pixels, between a speck and the digit's ink.
CLEARANCE = 3
#: Each pixel's row and column offset from the page's centre, in page widths: where a shadow falls.
ACROSS = np.mgrid[0:PAGE, 0:PAGE] / (PAGE - 1) - 0.5


def photographed_page(digit: np.ndarray, condition: Condition, rng: np.random.Generator,
                      neighbour: np.ndarray | None = None) -> np.ndarray:
    """``digit`` (bright ink, 28×28) as dark ink at a random spot of a page spoiled as ``condition`` says
    (with ``neighbour``, another 28×28 digit, for a condition that has one)."""
    ink = np.zeros((PAGE, PAGE), np.float32)
    top, left = rng.integers(4, PAGE - 28 - 4, 2)
    ink[top : top + 28, left : left + 28] = digit / 255.0
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    _print_lines(ink, condition.lines, rows, rng)
    if condition.neighbour:
        _cut_neighbour(ink, neighbour, top, bool(rng.integers(2)))
    placed = 0
    while placed < condition.specks:
        size = int(rng.integers(2, 4))
        y, x = rng.integers(0, PAGE - size, 2)
        beside = rows[0] - CLEARANCE - size < y <= rows[-1] + CLEARANCE and columns[0] - CLEARANCE - size < x <= columns[-1] + CLEARANCE
        if not beside:
            ink[y : y + size, x : x + size] = ink.max()
            placed += 1
    angle = rng.uniform(0.0, 2 * np.pi)
    light = PAPER - condition.fall * (0.5 + np.cos(angle) * ACROSS[1] + np.sin(angle) * ACROSS[0])
    return np.clip(light * (1.0 - 0.8 * ink) + rng.normal(0.0, condition.noise, ink.shape), 0, 255).astype(np.uint8)


def _print_lines(ink: np.ndarray, lines: str, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Print a form's lines on the page's ``ink`` (in place): one rule across it, solid or dashed, or a cell's four sides.

    A rule lies between the middle of the digit's rows and 2 px below its last one.
    """
    if lines == "none":
        return
    thickness, darkness = int(rng.integers(1, 3)), float(rng.uniform(0.5, 1.0))
    if lines in ("ruled", "dashed"):
        at = int(rng.integers((rows[0] + rows[-1]) // 2, rows[-1] + 3))
        along = np.ones(PAGE, bool)
        if lines == "dashed":
            dash, gap = int(rng.integers(3, 7)), int(rng.integers(2, 4))
            along = np.arange(PAGE) % (dash + gap) < dash
        ink[at : at + thickness, along] = np.maximum(ink[at : at + thickness, along], darkness)
        return
    inset = int(rng.integers(0, 4))
    for side in (np.s_[inset : inset + thickness], np.s_[PAGE - inset - thickness : PAGE - inset]):
        ink[side] = np.maximum(ink[side], darkness)
        ink[:, side] = np.maximum(ink[:, side], darkness)


def _cut_neighbour(ink: np.ndarray, neighbour: np.ndarray, top: int, on_the_left: bool) -> None:
    """Put the near :data:`NEIGHBOUR_SHARE` of ``neighbour``'s width against the page's left or right edge, rows from ``top``."""
    columns = np.flatnonzero(neighbour.any(axis=0))
    width = max(2, round(NEIGHBOUR_SHARE * (columns[-1] + 1 - columns[0])))
    if on_the_left:
        ink[top : top + 28, :width] = np.maximum(ink[top : top + 28, :width], neighbour[:, columns[-1] + 1 - width : columns[-1] + 1] / 255.0)
    else:
        ink[top : top + 28, PAGE - width :] = np.maximum(ink[top : top + 28, PAGE - width :], neighbour[:, columns[0] : columns[0] + width] / 255.0)


def main() -> None:
    args = image_set_arguments(__doc__, "loose_scans", split=True)
    models = load_models(args.models, args.top)
    sets = {}
    for source, (images, labels) in digit_sets(args.split, args.split_seed, args.limit).items():
        inked = images.any(axis=(1, 2))
        digits, digit_labels = images[inked], labels[inked]
        for seed, (condition, spoiled) in enumerate(CONDITIONS.items()):
            rng = np.random.default_rng(seed)
            neighbours = digits[rng.permutation(len(digits))] if spoiled.neighbour else [None] * len(digits)
            pages = [photographed_page(digit, spoiled, rng, neighbour) for digit, neighbour in zip(digits, neighbours)]
            save_pngs(pages, digit_labels, args.images / condition / source)
            sets[source, condition] = (standardise_images(pages), digit_labels)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for index, (reference, model) in enumerate(models.items(), start=1):
        results[reference] = {}
        for (source, condition), (standardised, labels) in sets.items():
            accuracy = float((predicted_digits(model, standardised) == labels).mean())
            results[reference].setdefault(source, {})[condition] = accuracy
        report_progress(index, len(models), reference,
                        {f"{source} {condition}": accuracy for source, row in results[reference].items() for condition, accuracy in row.items()})
    print("| model | source | n | " + " | ".join(condition.replace("_", " ") for condition in CONDITIONS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in CONDITIONS) + " |")
    for reference, by_source in results.items():
        for source, row in by_source.items():
            print(f"| {reference} | {source} | {len(sets[source, 'clean'][1])} | " + " | ".join(f"{100 * accuracy:.2f}" for accuracy in row.values()) + " |")
    save_report({"machine": machine(), "page": PAGE, "conditions": {name: spoiled._asdict() for name, spoiled in CONDITIONS.items()}, "split": args.split, "limit": args.limit, "top": args.top, "accuracy": results},
                args.output)


if __name__ == "__main__":
    run(main)
