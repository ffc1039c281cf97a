"""Training throughput of ``cnn_bn``: this framework's pipeline against a plain Keras script.

Measures images/s of one timed epoch (after a warm-up epoch that pays for graph
building) for:

* ``plain_keras``: a 30-line Keras script — NumPy arrays straight into ``fit``;
* ``framework_augment_none``: the framework's tf.data pipeline, no augmentation;
* ``framework_augment_seed``: the framework's pipeline with ``augment=seed``
  (static Albumentations copy + vectorised rotation/shift/zoom).

and, for the two framework settings, the pipeline alone (``pipeline_only_*``:
how fast tf.data prepares batches without a model). It prints the figures
and their ratios and saves them as JSON. Usage::

    DIGITS_DATA_DIR=../shared/data python benchmarks/throughput.py --images 10000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

import numpy as np  # noqa: E402

from common import RESULTS, check_outputs, group_config, import_tensorflow_quietly, mnist_training_images, positive, run, save_report  # noqa: E402

if TYPE_CHECKING:
    import keras


def plain_keras_model() -> keras.Model:
    """The seed network written out by hand, as a plain Keras user would."""
    import keras

    layers = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1))])
    for filters, padding in ((32, "valid"), (96, "valid"), (128, "same")):
        for _ in range(2):
            model.add(layers.Conv2D(filters, 3, padding=padding, activation="relu"))
            model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling2D(2))
        model.add(layers.SpatialDropout2D(0.2))
    model.add(layers.Flatten())
    model.add(layers.Dense(1050, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4)))
    model.add(layers.BatchNormalization())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(10, activation="softmax", dtype="float32"))
    return model


def pipeline_seconds(dataset, repeats: int = 2) -> float:
    """Seconds per pass over a tf.data pipeline alone (no model), after one warm-up pass."""
    for _ in dataset:
        pass
    start = time.perf_counter()
    for _ in range(repeats):
        for _ in dataset:
            pass
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=positive, default=20000, help="training images per epoch (max 54000)")
    parser.add_argument("--batch-size", type=positive, default=384)
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--output", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()
    check_outputs(args)
    import_tensorflow_quietly()  # once the command line is read, so that --help answers at once
    from callbacks import timed_fit
    from digit_experiments.augment.albumentations_set import static_copy
    from digit_experiments.model import build_model
    from digit_experiments.training.pipeline import training_dataset
    from digit_experiments.training.trainer import configure_runtime

    images, labels = mnist_training_images(args.images)
    results: dict[str, float] = {}

    configure_runtime(42, args.precision)
    x = images.astype(np.float32)[..., None] / 255.0
    results["plain_keras"] = len(labels) / timed_fit(plain_keras_model(), (x, labels), args.batch_size)

    for name in ("none", "seed"):
        configure_runtime(42, args.precision)
        augment = group_config("augment", name)
        transforms = augment["albumentations"].get("transforms")
        copy = static_copy(images, transforms, 42) if augment["albumentations"]["mode"] == "static" and transforms else None
        dataset = training_dataset(images, labels, args.batch_size, 42, augment, copy)
        results[f"pipeline_only_augment_{name}"] = len(labels) / pipeline_seconds(dataset)
        results[f"framework_augment_{name}"] = len(labels) / timed_fit(build_model({"name": "cnn_bn"}), dataset, None)

    report = {
        "images_per_epoch": len(labels),
        "batch_size": args.batch_size,
        "precision": args.precision,
        "images_per_second": results,
        "framework_none_over_plain": results["framework_augment_none"] / results["plain_keras"],
        "epoch_time_seed_over_none": results["framework_augment_none"] / results["framework_augment_seed"],
    }
    for key, value in results.items():
        print(f"{key:32s} {value:9.0f} images/s")
    print(f"framework (augment=none) / plain Keras throughput: {report['framework_none_over_plain']:.3f}")
    print(f"epoch time augment=seed / augment=none:           {report['epoch_time_seed_over_none']:.3f} (target <= 1.10)")
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
