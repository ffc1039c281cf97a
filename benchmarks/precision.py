"""Training speed of ``cnn_bn`` in each precision, side by side on this machine.

``trainer.precision: auto`` picks ``mixed_bfloat16`` where the CPU has AVX512_BF16 or AMX and
``float32`` elsewhere, and never ``mixed_float16``. This script measures why: it times one warm
epoch (after a first epoch that pays for graph building) of the framework's pipeline
(``augment=none``) and model in each precision, in one process, so that the ratios compare like
with like. It prints images/s, the ratio to ``float32`` and the precision ``auto`` picks here, and
saves them as JSON with the CPU flags. Usage::

    DIGITS_DATA_DIR=../shared/data python benchmarks/precision.py --images 10000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digit_experiments.core import startup

startup.quiet_libraries()  # the commands' start-up policy, before TensorFlow and MLflow load

from common import RESULTS, check_outputs, group_config, import_tensorflow_quietly, machine, mnist_training_images, positive, run, save_report  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=positive, default=10000, help="training images per epoch (max 54000)")
    parser.add_argument("--batch-size", type=positive, default=384)
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="the Keras dtype policies to time, in this order (float32 first gives the ratios)")
    parser.add_argument("--output", type=Path, default=RESULTS / "precision.json")
    args = parser.parse_args()
    check_outputs(args)
    import_tensorflow_quietly()  # once the command line is read, so that --help answers at once
    from callbacks import timed_fit
    from digit_experiments.model import build_model
    from digit_experiments.training.pipeline import training_dataset
    from digit_experiments.training.trainer import configure_runtime

    images, labels = mnist_training_images(args.images)
    augment = group_config("augment", "none")
    images_per_second: dict[str, float] = {}
    for precision in args.precisions:
        print(f"{precision}:", flush=True)
        configure_runtime(42, precision)
        dataset = training_dataset(images, labels, args.batch_size, 42, augment, None)
        images_per_second[precision] = len(labels) / timed_fit(build_model({"name": "cnn_bn"}), dataset, None)
    configure_runtime(42, "float32")  # leave Keras's global policy as a run starts with it

    report = {
        "machine": machine("auto"),
        "images_per_epoch": len(labels),
        "batch_size": args.batch_size,
        "images_per_second": images_per_second,
        "speed_over_float32": {name: value / images_per_second["float32"] for name, value in images_per_second.items()}
        if "float32" in images_per_second else {},
    }
    for name, value in images_per_second.items():
        ratio = report["speed_over_float32"].get(name)
        print(f"{name:16s} {value:7.0f} images/s" + (f"  {ratio:.2f}x float32" if ratio else ""))
    print(f"trainer.precision=auto picks {report['machine']['precision']} here "
          f"(CPU flags: {' '.join(report['machine']['cpu_flags']) or 'none of avx2/avx512f/avx512_bf16/amx_bf16'})")
    save_report(report, args.output)


if __name__ == "__main__":
    run(main)
