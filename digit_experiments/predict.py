"""Entry point: ``python -m digit_experiments.predict model_uri=... inputs=<files, globs or folders>``.

Prints the predicted digit and its probability for every image (a table, or
``format=json|csv`` for programs), after the same standardisation as the
training data (any size, colour or polarity). Files are decoded on every core
and scored in batches. A file that cannot be read is reported on its own line
and the others still run; the exit status is 0 when every file was scored, 1
when any failed and 2 for a user mistake (bad model URI, bad option).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from digit_experiments.core.errors import ConfigError, user_errors_exit  # noqa: E402

log = logging.getLogger("digit_experiments")

FORMATS = ("table", "json", "csv")
#: Test-time augmentations: (rotation in degrees, scale) about the image centre; the first is the identity.
TTA_TRANSFORMS = ((0.0, 1.0), (-8.0, 1.0), (8.0, 1.0), (0.0, 0.9), (0.0, 1.1))


@dataclass
class Prediction:
    """The outcome for one input file.

    Attributes:
        file: The file as found (or the input that matched nothing).
        probabilities: ``(10,)`` class probabilities; None when the file failed.
        error: Why the file could not be scored; None on success.
    """

    file: str
    probabilities: np.ndarray | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: file, digit, probability and all ten probabilities, or file and error."""
        if self.probabilities is None:
            return {"file": self.file, "error": self.error}
        digit = int(self.probabilities.argmax())
        return {
            "file": self.file,
            "digit": digit,
            "probability": round(float(self.probabilities[digit]), 6),
            "probabilities": [round(float(p), 6) for p in self.probabilities],
        }


def expand_inputs(inputs: str | Sequence[str]) -> tuple[list[Path], list[Prediction]]:
    """Files named by ``inputs``: files as given, globs expanded, folders searched recursively.

    Returns:
        The files in order (duplicates dropped), and a failed :class:`Prediction`
        for each input that names nothing.
    """
    from digit_experiments.dataset.io.image_files import list_images, natural_key

    files: list[Path] = []
    missing: list[Prediction] = []
    for item in [inputs] if isinstance(inputs, str) else list(inputs):
        item = str(item)
        path = Path(item).expanduser()
        if path.is_dir():
            files.extend(list_images(path))
        elif path.exists():
            files.append(path)
        elif glob.has_magic(item):
            matches = sorted(glob.glob(str(path), recursive=True), key=natural_key)
            files.extend(Path(m) for m in matches if Path(m).is_file())
            if not matches:
                missing.append(Prediction(item, error="no file matches this pattern"))
        else:
            missing.append(Prediction(item, error="no such file or folder"))
    return list(dict.fromkeys(files)), missing


def decode_files(files: Sequence[Path]) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Decode every file to a greyscale image on a pool of threads (OpenCV releases the GIL).

    Returns:
        Per file, the image (None when it failed) and the reason it failed (None on success).
    """
    from digit_experiments.dataset.io.image_files import decode_gray

    def decode(path: Path) -> tuple[np.ndarray | None, str | None]:
        try:
            image = decode_gray(path.read_bytes())
        except (OSError, ValueError) as error:
            return None, str(error)
        if min(image.shape) < 2:
            return None, f"image too small ({image.shape[1]}x{image.shape[0]} px)"
        return image, None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(decode, files, chunksize=64))
    return [image for image, _ in results], [error for _, error in results]


def tta_views(images: np.ndarray) -> Iterable[np.ndarray]:
    """Each of :data:`TTA_TRANSFORMS` applied to a ``(n, 28, 28)`` uint8 stack, the identity first."""
    import cv2

    for angle, scale in TTA_TRANSFORMS:
        if angle == 0.0 and scale == 1.0:
            yield images
            continue
        matrix = cv2.getRotationMatrix2D((13.5, 13.5), angle, scale)
        yield np.stack([cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR) for image in images])


def predict_files(
    ensemble: Any, inputs: str | Sequence[str], polarity: str = "auto", batch_size: int = 512, tta: bool = False
) -> list[Prediction]:
    """Decode, standardise and score every input file.

    Args:
        ensemble: A :class:`digit_experiments.inference.loading.Ensemble`.
        inputs: Files, glob patterns or folders.
        polarity: ``auto``, ``dark_on_light`` or ``light_on_dark``.
        batch_size: Images per model call.
        tta: Average the probabilities over :data:`TTA_TRANSFORMS`.

    Returns:
        One :class:`Prediction` per file in input order, then one per input that named nothing.
    """
    from digit_experiments.dataset.standardise import check_polarity, standardise_images

    check_polarity(polarity)
    files, missing = expand_inputs(inputs)
    decoded, errors = decode_files(files)
    ok = [i for i, image in enumerate(decoded) if image is not None]
    images = standardise_images([decoded[i] for i in ok], polarity)
    views = list(tta_views(images)) if tta else [images]
    probabilities = np.mean([ensemble.probabilities(view, batch_size) for view in views], axis=0)
    predictions = [Prediction(str(path), error=error) for path, error in zip(files, errors)]
    for row, index in enumerate(ok):
        predictions[index].probabilities = probabilities[row]
    return predictions + missing


def render(predictions: Sequence[Prediction], form: str) -> str:
    """The predictions as a table, JSON or CSV text."""
    rows = [p.as_dict() for p in predictions]
    if form == "json":
        return json.dumps(rows, indent=1)
    if form == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "digit", "probability", "error"])
        for r in rows:
            writer.writerow([r["file"], r.get("digit", ""), r.get("probability", ""), r.get("error", "")])
        return buffer.getvalue().rstrip("\n")
    width = max([len("file")] + [len(r["file"]) for r in rows])
    lines = [f"{'file'.ljust(width)}  digit  probability"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['file'].ljust(width)}  ERROR: {r['error']}")
        else:
            lines.append(f"{r['file'].ljust(width)}  {r['digit']:>5}  {r['probability']:>11.4f}")
    return "\n".join(lines)


def predict(config: Mapping[str, Any]) -> int:
    """Run a prediction as configured and print the results.

    Args:
        config: The resolved ``conf/predict.yaml`` as a plain dict.

    Returns:
        The exit status: 0 when every file was scored, 1 when any failed.
    """
    from digit_experiments import tracking
    from digit_experiments.inference.loading import load_ensemble

    if config["format"] not in FORMATS:
        raise ConfigError(f"Unknown format {config['format']!r}: use one of {', '.join(FORMATS)} (e.g. `format=json`).")
    tracking.connect(config["tracking"])
    ensemble = load_ensemble(config["model_uri"], config["top"])
    predictions = predict_files(ensemble, config["inputs"], config["polarity"], config["batch_size"], config["tta"])
    print(render(predictions, config["format"]), flush=True)
    failed = sum(p.error is not None for p in predictions)
    log.info("Scored %d image(s); %d failed.", len(predictions) - failed, failed)
    return 1 if failed else 0


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Predict as configured; exit 1 when any file failed, 2 for a user mistake."""
    with user_errors_exit():
        status = predict(OmegaConf.to_container(cfg, resolve=True))
    sys.exit(status)


if __name__ == "__main__":
    main()
