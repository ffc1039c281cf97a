"""What the benchmark scripts share: composing one config group option, and saving the figures."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Callable

CONF = Path(__file__).resolve().parents[1] / "conf"
#: Where the figures go by default, wherever a script is run from.
RESULTS = Path(__file__).resolve().parent / "results"


def run(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main`` as the commands run theirs.

    A user mistake (a model reference that does not exist, missing data, a bad override) ends
    with its one-paragraph message and exit status 2 instead of a traceback.
    """
    from digit_experiments.core.errors import user_errors_exit

    with user_errors_exit():
        main()


def _compose(overrides: list[str]):
    """``conf/train.yaml`` composed by Hydra with ``overrides``, as a run would compose it.

    Raises:
        UserError: for an option that does not exist (naming the valid ones) or an override Hydra
            cannot apply, instead of Hydra's traceback.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, MissingConfigException

    from digit_experiments.core.errors import UserError

    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="train", overrides=overrides)
    except MissingConfigException as error:
        options = f" The valid options are: {', '.join(error.options)}." if error.options else ""
        raise UserError(f"{str(error).splitlines()[0]} (conf/).{options} Pass one of them.") from None
    except HydraException as error:
        raise UserError(f"Cannot compose the run config: {' '.join(str(error).split())}. Correct or drop that override.") from None


def group_config(group: str, option: str) -> dict:
    """The config group option ``group=option`` (e.g. ``dataset=mix``), composed by Hydra as a run would."""
    from omegaconf import OmegaConf

    cfg = _compose([f"{group}={option}", "paths.output_dir=unused"])
    return OmegaConf.to_container(cfg[group], resolve=True)


def compose_recipe(recipe: str, overrides: list[str], workdir: Path, name: str | None = None):
    """The run config of ``experiment=<recipe>`` plus ``overrides``, for a benchmark that trains in-process.

    Args:
        recipe: The experiment recipe.
        overrides: Hydra overrides applied after the recipe.
        workdir: Where the run's outputs (``<workdir>/<name>``) and its MLflow store (``<workdir>/mlruns``) go.
        name: The run's ``tracking.run_name`` and output folder; None keeps the recipe's run name,
            and the folder is the recipe's name.

    Returns:
        The composed config, with Keras printing one line per epoch, checked as a run checks it, so
        that a benchmark composes every run before it trains any.
    """
    from digit_experiments.core.validation import validate

    named = [f"tracking.run_name={name}"] if name else []
    cfg = _compose([f"experiment={recipe}", f"paths.output_dir={workdir / (name or recipe)}",
                    f"paths.mlruns_dir={workdir / 'mlruns'}", "trainer.verbose=2", *named, *overrides])
    validate(cfg)
    return cfg


def workdir_store(workdir: Path) -> str:
    """Pin this process's MLflow store to ``<workdir>/mlruns`` (as :func:`compose_recipe` configures it) and return its URI.

    ``$MLFLOW_TRACKING_URI`` would otherwise win over the config and send a benchmark's throw-away
    runs to the user's store, where its read-back would find other runs too.
    """
    if os.environ.pop("MLFLOW_TRACKING_URI", None):
        print(f"MLFLOW_TRACKING_URI is ignored: the runs go to {workdir / 'mlruns'}", flush=True)
    return f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"


def child_environment() -> dict[str, str]:
    """This environment, for a command started in a throw-away folder: the data and cache folders made
    absolute, and no ``MLFLOW_TRACKING_URI``, so that its runs stay in that folder's store.

    A relative ``DIGITS_DATA_DIR`` (README's ``../shared/data``), or none (``./data``), would
    otherwise name another folder there, and the run would train on the embedded fallback set.
    """
    from digit_experiments.core.paths import CACHE_ENV, resolve

    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["DIGITS_DATA_DIR"] = str(resolve(os.environ.get("DIGITS_DATA_DIR", "data")))
    if os.environ.get(CACHE_ENV):
        env[CACHE_ENV] = str(resolve(os.environ[CACHE_ENV]))
    return env


def import_tensorflow_quietly() -> None:
    """Import TensorFlow as the commands do, without its start-up lines; a script calls it once its
    command line is read and checked, so that ``--help`` and a refused argument answer at once."""
    from digit_experiments.core.startup import import_tensorflow

    import_tensorflow()


def mnist_training_images(count: int):
    """About ``count`` MNIST training images and their labels, for a speed measurement.

    The default split keeps 90 % of what it loads for training, so ``count / 0.9`` are loaded.

    Returns:
        ``(images, labels)``: ``(n, 28, 28)`` uint8 images and their digits.
    """
    from digit_experiments.core.paths import resolve
    from digit_experiments.dataset import load_dataset

    data_dir = resolve(group_config("paths", "default")["data_dir"])  # where every command looks: paths.data_dir
    splits = load_dataset({"mnist": {}}, data_dir, seed=42, max_train_images=int(count / 0.9))
    return splits.train_images, splits.train_labels


def image_set_arguments(doc: str, name: str, split: bool = False):
    """The command line of a benchmark that writes an image set and scores models on it.

    Args:
        doc: The script's docstring; its first paragraph is the description.
        name: The set's name: PNGs go to ``outputs/<name>``, figures to ``results/<name>.json``
            (``results/<name>_limit<N>.json`` for a ``--limit`` look).
        split: Whether the set is drawn from :func:`digit_sets`, so that ``--split`` and
            ``--split-seed`` choose its images.

    Returns:
        The parsed ``--models``, ``--top``, ``--images`` and ``--output`` (and ``--split``, ``--split-seed``, ``--limit``),
        once TensorFlow is imported.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    model_arguments(parser, "each is scored on its own")
    parser.add_argument("--images", type=Path, default=Path("outputs") / name, help="where the PNGs are written")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"the figures' JSON (default: results/{name}.json; results/{name}_limit<N>.json with --limit, "
                             "so that a quick look never overwrites the published figures)")
    if split:
        parser.add_argument("--split", choices=("test", "validation"), default="test",
                            help="the test sets of MNIST and USPS, or MNIST's validation images (to choose a recipe on)")
        parser.add_argument("--split-seed", type=int, default=42, help="the seed of the validation split (--split validation)")
        parser.add_argument("--limit", type=positive, default=None,
                            help="score only the first N images of each set: a quick look, not a figure to compare")
    args = parser.parse_args()
    if args.output is None:
        args.output = RESULTS / (f"{name}_limit{args.limit}.json" if getattr(args, "limit", None) else f"{name}.json")
    check_outputs(args, folders=("images",))
    import_tensorflow_quietly()
    return args


def model_arguments(parser: argparse.ArgumentParser, use: str) -> None:
    """Add ``--models`` (references as :func:`load_models` takes them) and ``--top`` to ``parser``.

    Args:
        parser: The script's parser.
        use: What the script does with each reference, for the help.
    """
    parser.add_argument("--models", nargs="+", required=True,
                        help=f"model references, as evaluate's model_uri ({use}): runs:/<id>/model, models:/<name>/<version "
                             "or @alias>, a .keras file, sweep:<parent run id>, or a list written as one argument "
                             "(\"[runs:/<a>/model,runs:/<b>/model]\"), which is one ensemble (its members averaged)")
    parser.add_argument("--top", type=positive, default=5,
                        help="how many jobs a sweep:<parent run id> reference averages (the ensemble recipes train 5)")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def non_negative(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return int(text)


def check_outputs(args: argparse.Namespace, files: tuple[str, ...] = ("output",), folders: tuple[str, ...] = ()) -> None:
    """Stop before any work when an output location of the command line cannot be written.

    A benchmark saves its figures at the very end: a path under a regular file, a file path that
    is a folder, or a folder without write permission would otherwise lose all the work.

    Args:
        args: The parsed command line.
        files: The ``args`` attributes that name a file to write (None: not given).
        folders: Those that name a folder to create or fill.

    Raises:
        UserError: naming the option, the path and the fix.
    """
    for dest, folder in [*((dest, False) for dest in files), *((dest, True) for dest in folders)]:
        if getattr(args, dest) is not None:
            check_output("--" + dest.replace("_", "-"), getattr(args, dest), folder)


def check_output(option: str, path: Path, folder: bool = False) -> None:
    """Raise a UserError when ``path`` (a file, or a ``folder``) cannot be written; see :func:`check_outputs`."""
    from digit_experiments.core.errors import UserError
    from digit_experiments.core.output_folder import unwritable_reason

    path = Path(path).expanduser().absolute()
    reason = unwritable_reason(path, folder)
    if reason:
        raise UserError(f"{option} {path} cannot be written: {reason}. Give {option} another path, or move what is in the way.")


def save_pngs(images, labels, folder: Path) -> None:
    """Each image as ``folder/<digit>/<index>.png``, a labelled folder as ``predict`` and ``dataset=folder`` read it."""
    import cv2

    for index, (image, label) in enumerate(zip(images, labels)):
        path = folder / str(label) / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)


def digit_sets(split: str, split_seed: int, limit: int | None = None) -> dict:
    """``{name: (standardised images, labels)}`` of ``dataset=unseen_usps``: the MNIST and USPS test sets,
    or MNIST's validation images (``split="validation"``, drawn with ``split_seed``) to choose a recipe on;
    the first ``limit`` images of each, when given."""
    from digit_experiments.core.paths import resolve
    from digit_experiments.dataset import load_dataset

    dataset = group_config("dataset", "unseen_usps")
    data_dir = resolve(group_config("paths", "default")["data_dir"])
    splits = load_dataset(sources=dataset["sources"], data_dir=data_dir, seed=split_seed, val_fraction=dataset["val_fraction"])
    sets = dict(splits.tests) if split == "test" else {"mnist_validation": (splits.val_images, splits.val_labels)}
    return {name: (images[:limit], labels[:limit]) for name, (images, labels) in sets.items()}


def load_models(references: list[str], top: int) -> dict:
    """Load every model reference before any long work, so that a wrong one stops the benchmark at once.

    TensorFlow and MLflow load here, not when the script starts, so ``--help`` answers at once.

    Args:
        references: As ``evaluate``'s ``model_uri``, one model (or one ensemble: a sweep, or a list
            written ``[a,b,...]``) each.
        top: How many jobs a ``sweep:<parent run id>`` reference averages.

    Returns:
        ``{reference: Ensemble}``, in the order given.
    """
    from digit_experiments.inference.loading import load_ensemble

    connect_tracking()
    return {reference: load_ensemble(reference, top=top) for reference in references}


def connect_tracking() -> None:
    """Point MLflow at the project's store, so that ``runs:/`` and ``sweep:`` references name its runs.

    MLflow loads here, not when a script starts, so ``--help`` answers at once.
    """
    from digit_experiments import tracking

    tracking.connect(group_config("tracking", "mlflow"))


def model_probabilities(model, images, tta: bool = False, batch_size: int = 512):
    """``(n, 10)`` probabilities of a model or ensemble on standardised 28×28 images (``tta``: the shipped views averaged)."""
    from digit_experiments.inference.scoring import predict_probabilities

    return predict_probabilities(model, images, batch_size, tta=tta)


def predicted_digits(model, images):
    """The digit a model of :func:`load_models` reads in each standardised 28×28 image."""
    return model_probabilities(model, images, batch_size=256).argmax(axis=1)


def report_progress(index: int, total: int, reference: str, accuracies: dict[str, float]) -> None:
    """One line per scored model, so a long benchmark shows where it is."""
    figures = ", ".join(f"{name} {100 * accuracy:.2f} %" for name, accuracy in accuracies.items())
    print(f"[{index}/{total}] {reference}: {figures}", flush=True)


def save_report(report: dict, output: Path) -> None:
    """Write ``report`` as indented JSON to ``output`` (folders created) and say where."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {output}")


def machine(precision: str = "auto") -> dict:
    """The CPU flags that decide speed (AVX2, AVX-512, bfloat16), the core count and the precision a run uses."""
    from digit_experiments.training.precision import BF16_FLAGS, choose_precision, cpu_flags

    return {
        "cpu_flags": sorted(cpu_flags() & {"avx2", "avx512f", *BF16_FLAGS}),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "precision": choose_precision(precision)[0],
    }


def ensemble_splits(split_seed: int):
    """MNIST as the members of ``experiment=ensemble`` see it: the validation split of ``split_seed``, and the test set."""
    from digit_experiments.core.paths import resolve
    from digit_experiments.dataset import load_dataset

    dataset = {**group_config("dataset", "mnist"), "split_seed": split_seed}
    return load_dataset(data_dir=resolve(group_config("paths", "default")["data_dir"]), seed=split_seed, **dataset)
