"""Entry point: ``python -m digit_experiments.export model_uri=... output=<folder>``.

Writes a trained model as files that load without MLflow or this package:

* ``<output>/model.keras``: ``keras.models.load_model("model.keras")``;
* ``<output>/saved_model/``: a TensorFlow SavedModel whose ``serve`` signature
  maps float32 ``(n, 28, 28, 1)`` images in [0, 1] to ``(n, 10)`` probabilities
  (TensorFlow Serving, ``tf.saved_model.load``).

Both can be passed back as ``model_uri`` to evaluate and predict.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from digit_experiments.core.errors import UserError, user_errors_exit  # noqa: E402

log = logging.getLogger("digit_experiments")

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"


def export_model(model: Any, output: Path) -> tuple[Path, Path]:
    """Save ``model`` as ``<output>/model.keras`` and ``<output>/saved_model/``.

    Args:
        model: A Keras model.
        output: The folder to write into (created; existing exports are replaced).

    Returns:
        The paths of the ``.keras`` file and of the SavedModel folder.
    """
    output.mkdir(parents=True, exist_ok=True)
    keras_file, saved_model = output / KERAS_FILE, output / SAVED_MODEL_DIR
    model.save(keras_file)
    model.export(str(saved_model), format="tf_saved_model", verbose=False)
    return keras_file, saved_model


def export(config: Mapping[str, Any]) -> tuple[Path, Path]:
    """Load the configured model and export it.

    Args:
        config: The resolved ``conf/export.yaml`` as a plain dict.

    Returns:
        The paths written (see :func:`export_model`).
    """
    from digit_experiments import tracking
    from digit_experiments.inference.loading import load_member
    from digit_experiments.core.paths import resolve

    if not isinstance(config["model_uri"], str):
        raise UserError("Export takes one model: pass a single `model_uri=...`, not a list.")
    tracking.connect(config["tracking"])
    member = load_member(config["model_uri"])
    written = export_model(member.model, resolve(config["output"]))
    for path in written:
        print(path)
    return written


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    """Export as configured; a user mistake exits with status 2 and one paragraph."""
    with user_errors_exit():
        export(OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    main()
