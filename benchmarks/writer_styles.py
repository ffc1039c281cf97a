"""Handwriting styles MNIST lacks: European 1s and 7s, and digits stretched or squeezed in width.

Draws a labelled set with OpenCV (no outside data): every digit in six
Hershey fonts, plus hand-built strokes for the European "1" (a long flag,
with and without a foot), the crossed "7" and the "9" whose tail curls back
to the left (as in a cursive "g"), each at several stroke widths,
slants and positions, as dark ink on light paper on a 96×96 canvas; then
copies of all of them stretched to 1.6× and squeezed to 0.6× their width.
It saves them as PNG files under ``<output>/<style>/<digit>/`` (so any of
them can also be fed to ``predict`` or ``dataset=folder``), scores each model
on each style through the training standardisation, and prints and saves
the table::

    python benchmarks/writer_styles.py --models runs:/<seed run>/model runs:/<fast run>/model \
        "[runs:/<member 1>/model,runs:/<member 2>/model]"

The last reference is an ensemble, scored as one model: its members' probabilities averaged.
"""

from __future__ import annotations

from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from digit_experiments.dataset.standardise import standardise_images  # noqa: E402

from common import image_set_arguments, load_models, machine, predicted_digits, report_progress, run, save_pngs, save_report  # noqa: E402

SIZE = 96
FONTS = {
    "simplex": cv2.FONT_HERSHEY_SIMPLEX, "duplex": cv2.FONT_HERSHEY_DUPLEX, "complex": cv2.FONT_HERSHEY_COMPLEX,
    "triplex": cv2.FONT_HERSHEY_TRIPLEX, "script": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, "italic": cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
}


def _arc(centre: tuple[float, float], radii: tuple[float, float], start: float, stop: float) -> list[tuple[float, float]]:
    """Points along an ellipse on the unit square, from ``start`` to ``stop`` degrees (0 is right, 90 down)."""
    angles = np.radians(np.linspace(start, stop, 24))
    return [(centre[0] + radii[0] * np.cos(a), centre[1] + radii[1] * np.sin(a)) for a in angles]


#: Hand-built strokes on a unit square (x right, y down): the European 1, the crossed 7, and the
#: 9 whose tail curls back to the left under its loop, well clear of it (it stays a 9, not an 8).
STROKES = {
    (1, "european_1"): [[(0.25, 0.35), (0.6, 0.05), (0.6, 0.95)]],
    (1, "european_1_foot"): [[(0.25, 0.35), (0.6, 0.05), (0.6, 0.95)], [(0.35, 0.95), (0.85, 0.95)]],
    (7, "crossed_7"): [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)], [(0.35, 0.5), (0.8, 0.5)]],
    (9, "curled_9"): [_arc((0.5, 0.28), (0.3, 0.23), 0, -360), [(0.8, 0.28), (0.8, 0.75)] + _arc((0.6, 0.75), (0.2, 0.17), 0, 200)],
}
WIDTH_CHANGES = {"stretched": 1.6, "squeezed": 0.6}


def _paper() -> np.ndarray:
    return np.full((SIZE, SIZE), 235, np.uint8)


def font_digit(digit: int, font: int, thickness: int, rng: np.random.Generator) -> np.ndarray:
    """``digit`` typeset in a Hershey font, dark on light, at a random height and place."""
    image = _paper()
    scale = rng.uniform(1.6, 2.4)
    (width, height), _ = cv2.getTextSize(str(digit), font, scale, thickness)
    x = int(rng.integers(4, max(5, SIZE - width - 4)))
    y = int(rng.integers(height + 4, max(height + 5, SIZE - 4)))
    cv2.putText(image, str(digit), (x, y), font, scale, 20, thickness, cv2.LINE_AA)
    return image


def stroked_digit(strokes: list[list[tuple[float, float]]], thickness: int, rng: np.random.Generator) -> np.ndarray:
    """Polylines drawn in a random box with a random slant, dark on light."""
    image = _paper()
    box = rng.uniform(50, 80)
    left, top = rng.uniform(4, SIZE - box * 0.8 - 4), rng.uniform(4, SIZE - box - 4)
    slant = rng.uniform(-0.2, 0.2)
    for stroke in strokes:
        points = np.array([[left + box * 0.8 * (x + slant * (1 - y)), top + box * y] for x, y in stroke], np.int32)
        cv2.polylines(image, [points], False, 20, thickness, cv2.LINE_AA)
    return image


def change_width(image: np.ndarray, factor: float) -> np.ndarray:
    """The image with its ink stretched (factor > 1) or squeezed in width, on a canvas of the same height."""
    resized = cv2.resize(image, (max(8, int(SIZE * factor)), SIZE), interpolation=cv2.INTER_AREA)
    canvas = np.full((SIZE, max(SIZE, resized.shape[1])), 235, np.uint8)
    offset = (canvas.shape[1] - resized.shape[1]) // 2
    canvas[:, offset:offset + resized.shape[1]] = resized
    return canvas


def draw_set(seed: int = 0, per_style: int = 20) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """``{style: (images, labels)}`` for every font and stroke style, then their stretched and squeezed copies."""
    rng = np.random.default_rng(seed)
    styles: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    for name, font in FONTS.items():
        styles[f"font_{name}"] = ([], [])
        for digit in range(10):
            for _ in range(per_style // 5):
                styles[f"font_{name}"][0].append(font_digit(digit, font, int(rng.integers(2, 6)), rng))
                styles[f"font_{name}"][1].append(digit)
    for (digit, name), strokes in STROKES.items():
        styles[name] = ([stroked_digit(strokes, int(rng.integers(3, 9)), rng) for _ in range(per_style)], [digit] * per_style)
    for change, factor in WIDTH_CHANGES.items():
        for name in [n for n in styles if "_" in n and not n.startswith(tuple(WIDTH_CHANGES))]:
            images, labels = styles[name]
            styles[f"{change}_{name}"] = ([change_width(i, factor) for i in images], list(labels))
    return {name: (images, np.array(labels)) for name, (images, labels) in styles.items()}


def column_name(reference: str) -> str:
    """A short column heading for a model reference: a run id's first 8 characters, or a checkpoint's run folder.

    A list ``[a,b,...]`` (an ensemble) is headed by its members' headings joined with ``+``, read
    as ``evaluate`` reads it (the loading module is in memory by then: :func:`load_models` came first).
    """
    from digit_experiments.inference.loading import as_references

    if reference.startswith("["):
        return "+".join(column_name(member) for member in as_references(reference))
    if reference.startswith("runs:/"):
        return reference.split("/")[1][:8]
    return Path(reference).parent.parent.name or reference


def main() -> None:
    args = image_set_arguments(__doc__, "writer_styles")
    models = load_models(args.models, args.top)
    styles = draw_set()
    for name, (images, labels) in styles.items():
        save_pngs(images, labels, args.images / name)
    standardised = {name: (standardise_images(images), labels) for name, (images, labels) in styles.items()}
    results = {}
    for index, (reference, model) in enumerate(models.items(), start=1):
        results[reference] = {
            name: float((predicted_digits(model, images) == labels).mean())
            for name, (images, labels) in standardised.items()
        }
        report_progress(index, len(args.models), reference,
                        {name: results[reference][name] for name in ("european_1", "stretched_european_1", "curled_9")})
    print("| style | n | " + " | ".join(column_name(r) for r in args.models) + " |")
    print("| --- | --- |" + " --- |" * len(args.models))
    for name, (_, labels) in standardised.items():
        print(f"| {name} | {len(labels)} | " + " | ".join(f"{100 * results[r][name]:.1f}" for r in args.models) + " |")
    save_report({"machine": machine(), "styles": {n: len(l) for n, (_, l) in standardised.items()}, "top": args.top,
                 "accuracy": results}, args.output)


if __name__ == "__main__":
    run(main)
