"""Entry point: ``python -m digit_experiments.predict model_uri=... inputs=<files, globs or folders>``.

Prints the predicted digit and its probability for every image (a table, or
``format=json|csv`` for programs), after the same standardisation as the
training data (any size, colour or polarity). Files are decoded on every core
and scored in batches. A file that cannot be read, or holds no ink (a blank
image), is reported on its own line and the others still run; a folder's files
that are not images by their extension (``Thumbs.db``) are skipped with a log
line. The exit status is 0 when every file was scored, 1 when any failed and 2
for a user mistake (bad model URI, bad option).

A thin Hydra wrapper: the work is in :mod:`digit_experiments.inference`,
imported only when the command runs, so ``--help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup
from digit_experiments.core.errors import ConfigError

log = logging.getLogger("digit_experiments")
startup.quiet_libraries()
startup.register_resolvers()


def predict(config: Mapping[str, Any]) -> int:
    """Run a prediction as configured and print the results.

    Args:
        config: The resolved ``conf/predict.yaml`` as a plain dict.

    Returns:
        The exit status: 0 when every file was scored, 1 when any failed.
    """
    if not config["inputs"]:  # before the imports below load TensorFlow and MLflow
        raise ConfigError(
            "`inputs` is empty, so there is nothing to predict. Name image files, glob patterns or folders, "
            "e.g. `inputs=photos/` or `inputs=[a.png,b.png]`."
        )
    from digit_experiments.dataset.standardise import check_polarity
    from digit_experiments.inference.formats import check_format, render

    check_format(config["format"])  # every option is checked before the model loads
    check_polarity(config["polarity"])
    startup.import_tensorflow()
    from digit_experiments import tracking
    from digit_experiments.inference.loading import load_ensemble, reads_tracking_store
    from digit_experiments.inference.prediction import predict_files

    tracking.connect(config["tracking"], used=reads_tracking_store(config["model_uri"]))
    ensemble = load_ensemble(config["model_uri"], config["top"])
    predictions = predict_files(
        ensemble, config["inputs"], config["polarity"], config["batch_size"], config["tta"], config["max_image_pixels"]
    )
    print(render(predictions, config["format"]), flush=True)
    failed = sum(p.error is not None for p in predictions)
    log.info("Scored %d image(s); %d failed.", len(predictions) - failed, failed)
    return 1 if failed else 0


@startup.hydra_command("predict")
def main(cfg: DictConfig) -> None:
    """Predict as configured; exit 1 when any file failed, 2 for a user mistake."""
    sys.exit(startup.run_command(predict, cfg))


if __name__ == "__main__":
    main()
