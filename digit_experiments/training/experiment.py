"""One training run, start to finish: the body of ``python -m digit_experiments.train``.

validate config → seed and set up TensorFlow → load data → (static
augmentation) → MLflow run (new, or the interrupted one when ``resume`` is set) { log config and data checksums → build, compile
and fit the model → score the best checkpoint on every test set → log
metrics, plots and the model } → return the optimised metric.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Mapping

import keras
import numpy as np
import optuna
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from digit_experiments import plots, tracking
from digit_experiments.core import startup
from digit_experiments.training import trainer
from digit_experiments.augment.albumentations_set import static_copy
from digit_experiments.augment.styles import apply_styles
from digit_experiments.training.callbacks import (
    CHECKPOINT_FILE, TRAINED_MODEL, build_callbacks, discard_resume_state, keep_trained, load_trained, with_resume_state,
)
from digit_experiments.dataset import DatasetSplits, load_dataset
from digit_experiments.inference.scoring import Scores, score_sets, test_metrics
from digit_experiments.model import build_model
from digit_experiments.training.optimizers import build_optimizer
from digit_experiments.training.precision import SLOW_ON_CPUS, choose_precision
from digit_experiments.training.strategy import distribution_strategy, global_batch_size
from digit_experiments.core.folder_lock import hold_output_folder
from digit_experiments.core.paths import resolve, set_aside_previous_outputs
from digit_experiments.training.pipeline import evaluation_dataset, training_dataset
from digit_experiments.training.callbacks.optuna_pruning import pruning_callback
from digit_experiments.training.callbacks.epoch_log import EpochLog, keras_messages_logged
from digit_experiments.training.callbacks.mlflow_metrics import MlflowMetricsLogger
from digit_experiments.training.selection import restores_best, selected_epoch
from digit_experiments.core.validation import validate

log = logging.getLogger(__name__)


def run(
    cfg: DictConfig, overrides: list[str] | None = None, extra_callbacks: list[keras.callbacks.Callback] | None = None
) -> float:
    """Train, evaluate and track one model as configured.

    Args:
        cfg: The composed run config (conf/train.yaml and its groups).
        overrides: The command-line overrides, recorded with the run.
        extra_callbacks: More Keras callbacks for the fit, after the run's own
            (benchmarks use this to watch training; they must not select anything).

    Returns:
        The best epoch's value of ``cfg.optimized_metric``.
    """
    config = validate(cfg)
    tracking.check_reachable(config["tracking"])
    resumed = tracking.find_resumable_run(config["tracking"], str(config["resume"])) if config.get("resume") else None
    output_dir = Path(resumed.data.tags[tracking.OUTPUT_DIR_TAG]) if resumed else resolve(config["paths"]["output_dir"])
    with hold_output_folder(output_dir):
        return _train_in_folder(cfg, config, overrides, extra_callbacks, resumed, output_dir)


def _train_in_folder(
    cfg: DictConfig, config: dict[str, Any], overrides: list[str] | None,
    extra_callbacks: list[keras.callbacks.Callback] | None, resumed: Any, output_dir: Path,
) -> float:
    """:func:`run`'s work once its output folder is this process's: data, the tracked fit, scoring.

    Args:
        cfg: The composed run config, as given to :func:`run`.
        config: The same, validated and resolved.
        overrides: The command-line overrides, recorded with the run.
        extra_callbacks: More Keras callbacks for the fit.
        resumed: The interrupted MLflow run to continue, or None for a new run.
        output_dir: The run's output folder.

    Returns:
        The best epoch's value of ``cfg.optimized_metric``.
    """
    runtime = config["trainer"]
    precision, precision_reason = choose_precision(runtime["precision"])
    slow_here = precision in SLOW_ON_CPUS and not tf.config.list_physical_devices("GPU")
    log.log(logging.WARNING if slow_here else logging.INFO, "Precision %s (%s)", precision, precision_reason)
    trainer.configure_runtime(config["seed"], precision, runtime["threads"], runtime["cpu_devices"])
    strategy, strategy_description = distribution_strategy(runtime["strategy"])

    splits = load_dataset(data_dir=resolve(config["paths"]["data_dir"]), seed=config["seed"], **config["dataset"])
    log.info("Data: %s", splits.summary())
    batch_size = _batch_size(config, len(splits.train_labels), strategy.num_replicas_in_sync)
    if not resumed:
        set_aside_previous_outputs(output_dir)
    augmented = _static_augmentation(splits.train_images, splits.train_labels, config["augment"], config["seed"])

    trial = config.get("optuna")
    tags = _run_tags(trial, splits, output_dir, {
        "trainer.precision_used": precision, "trainer.precision_reason": precision_reason,
        "trainer.strategy_used": strategy_description,
    })
    if resumed:
        tracking.check_resume_config(resumed, config)
    run_id = resumed.info.run_id if resumed else None
    failure_tags = {"trial.state": "FAIL"} if trial else {}
    trained_sources = [source for source, counts in splits.source_counts.items() if counts.get("train")]
    settings = {**config["tracking"], "run_name": tracking.describe_run(config, trained_sources)}
    with tracking.recorded_run(settings, output_dir, tags, failure_tags, run_id) as recorder, startup.raising_lost_interrupts():
        log.info("MLflow run %s in %s%s", recorder.run_id, recorder.tracking_uri, " (resumed)" if resumed else "")
        if not resumed:
            tracking.log_config(config, OmegaConf.to_yaml(cfg, resolve=True), list(overrides or []), recorder)
        recorder.log_params({
            f"data.{source}.{split}": count for source, counts in splits.source_counts.items() for split, count in counts.items()
        })
        recorder.log_param("trainer.batch_size", batch_size)
        pruner = pruning_callback(trial, config["optimized_metric"])
        model, history = _train(
            config, batch_size, splits, augmented, output_dir, recorder, strategy,
            [*([pruner] if pruner else []), *(extra_callbacks or [])],
        )
        metric = _log_selected_epoch(config, history, recorder)
        pruned = pruner is not None and pruner.pruned_at_epoch is not None
        if not pruned:  # a pruned trial is not worth scoring on the test sets
            _evaluate_and_log(config, splits, model, history, augmented, output_dir, recorder)
        if trial:
            recorder.set_tag("trial.state", "PRUNED" if pruned else "COMPLETE")
    discard_resume_state(output_dir)
    if pruned:
        raise optuna.TrialPruned(f"pruned after epoch {pruner.pruned_at_epoch}")
    if recorder.pending:
        raise tracking.TrackingDeferred(recorder, metric)
    return metric


def _batch_size(config: Mapping[str, Any], train_count: int, replicas: int) -> int:
    """The global batch size: the configured one, made smaller where a small dataset needs more steps per epoch.

    Args:
        config: The validated run config.
        train_count: Training images.
        replicas: Replicas of the distribution strategy, each given a batch of this size.
    """
    wanted, min_steps = config["batch_size"], config["trainer"]["min_steps_per_epoch"]
    batch_size = trainer.training_batch_size(wanted, train_count, min_steps)
    if batch_size != wanted:
        steps = math.ceil(train_count / batch_size)
        goal = f"at least {min_steps} steps" if steps >= min_steps else f"{steps} steps, as near {min_steps} as its images allow"
        log.warning(
            "Training with batch size %d instead of %d, so that an epoch of %d images has %s "
            "(trainer.min_steps_per_epoch=null keeps %d).", batch_size, wanted, train_count, goal, wanted,
        )
    return global_batch_size(batch_size, replicas)


def _run_tags(
    trial: Mapping[str, Any] | None, splits: DatasetSplits, output_dir: Path, runtime_tags: Mapping[str, str]
) -> dict[str, str]:
    """The tags a run starts with: code version, data checksums, Optuna trial, output directory and runtime choices.

    Args:
        trial: The ``optuna`` config of a run the Optuna sweeper launched, else None.
        splits: The loaded data, whose checksums and notes are tagged.
        output_dir: The run's output directory (``resume`` finds it by this tag).
        runtime_tags: The precision and strategy the run chose.
    """
    tags = {**tracking.git_tags(), **tracking.data_tags(splits.checksums, splits.notes)}
    if trial:
        tags.update({"trial.number": str(trial.get("trial_number", "")), "trial.study": trial["study_name"]})
    tags[tracking.OUTPUT_DIR_TAG] = str(output_dir)
    tags.update(runtime_tags)
    return tags


def _log_selected_epoch(config: Mapping[str, Any], history: Mapping[str, list[float]], recorder: tracking.RunJournal) -> float:
    """Log the epoch whose weights the run tests (``best_epoch``, 1-based) and its ``best_<metric>``; return that value."""
    name, mode = config["optimized_metric"], config["optimized_mode"]
    restored = restores_best(config["callbacks"])
    epoch = selected_epoch(history, name, mode, restored)
    value = float(history[name][epoch])
    recorder.log_metrics({f"best_{name}": value, "best_epoch": epoch + 1})
    if restored:
        log.info("Selected epoch %d of %d by %s (%s): %.4f", epoch + 1, len(history[name]), name, mode, value)
    else:
        log.info("Kept the last epoch, %d, with %s %.4f: no checkpoint or early stopping restores another", epoch + 1, name, value)
    return value


def _static_augmentation(images: np.ndarray, labels: np.ndarray, augment: Mapping[str, Any], seed: int) -> np.ndarray | None:
    """The cached static Albumentations copy, with ``augment.styles`` drawn on it, when the config asks for one."""
    albumentations = augment.get("albumentations") or {}
    if albumentations.get("mode") != "static" or not albumentations.get("transforms"):
        return None
    augmented = static_copy(images, albumentations["transforms"], seed)
    return apply_styles(augmented, labels, augment["styles"], seed) if augment.get("styles") else augmented


def _datasets(config: Mapping[str, Any], batch_size: int, splits: DatasetSplits, augmented: np.ndarray | None):
    """The training and validation tf.data pipelines; no validation pipeline in a refit (no validation images)."""
    pipeline = config["pipeline"]
    train = training_dataset(
        splits.train_images, splits.train_labels, batch_size, config["seed"], config["augment"], augmented, **pipeline
    )
    if not len(splits.val_labels):
        return train, None
    return train, evaluation_dataset(splits.val_images, splits.val_labels, batch_size, **pipeline)


def _train(
    config: Mapping[str, Any],
    batch_size: int,
    splits: DatasetSplits,
    augmented: np.ndarray | None,
    output_dir: Path,
    recorder: tracking.RunJournal,
    strategy: tf.distribute.Strategy,
    extra_callbacks: list[keras.callbacks.Callback],
):
    """Build and compile the model under ``strategy``, fit it; return the best checkpoint and the history.

    Training resumes from ``<output_dir>/backup`` when an interrupted run left
    one there; the history returned is then the run's whole logged history.
    A run interrupted after its training ended is not trained again: its
    trained model (:data:`~digit_experiments.training.callbacks.TRAINED_MODEL`)
    is returned.
    """
    trained_model = output_dir / TRAINED_MODEL
    if config.get("resume") and trained_model.exists():
        log.info("Training had ended before the interruption: its model is tested, plotted and logged (%s).", trained_model)
        return load_trained(trained_model)
    train, validation = _datasets(config, batch_size, splits, augmented)
    steps_per_epoch = math.ceil(len(splits.train_labels) / batch_size)
    with strategy.scope():
        optimizer = build_optimizer(config["optimizer"], steps_per_epoch, config["epochs"])
        model = trainer.compile_model(build_model(config["model"]), optimizer, config["trainer"]["label_smoothing"])
    recorder.log_param("model.parameters", model.count_params())
    logged_through = tracking.last_logged_epoch(recorder) if config.get("resume") else -1
    logged_lines, label = config["trainer"]["verbose"] == "log", _sweep_job_label()
    callbacks = build_callbacks(config["callbacks"], output_dir) + [
        MlflowMetricsLogger(recorder, logged_through), EpochLog(logged_lines, label), *extra_callbacks,
    ]
    with keras_messages_logged(label) if logged_lines else contextlib.nullcontext():
        result = trainer.fit(
            model, train, validation, config["epochs"], with_resume_state(callbacks, output_dir), config["trainer"]["verbose"]
        )
    history = tracking.logged_history(recorder, result.history) if config.get("resume") else result.history
    recorder.log_metric("epochs_trained", len(history["loss"]))
    checkpoint = output_dir / CHECKPOINT_FILE
    if checkpoint.exists():
        model = keras.models.load_model(checkpoint)
    keep_trained(model, history, trained_model)
    return model, history


def _sweep_job_label() -> str | None:
    """``job <n>`` for a job of a Hydra multirun, else None (a single run, or a run a benchmark started)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return f"job {HydraConfig.get().job.num}"


def _augmented_preview(
    config: Mapping[str, Any], splits: DatasetSplits, augmented: np.ndarray | None, count: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """One batch of ``count`` training images through the training pipeline, for the augmentation plot.

    The pipeline is built on the first ``count`` images only, not on a second
    copy of the whole training set.
    """
    preview = training_dataset(
        splits.train_images[:count], splits.train_labels[:count], count, config["seed"], config["augment"],
        None if augmented is None else augmented[:count], **config["pipeline"],
    )
    images, labels = next(iter(preview.take(1)))
    return images.numpy(), labels.numpy()


def _result_text(name: str, score: Scores) -> str:
    """One test set's result for the log: accuracy with its 95 % interval, and loss."""
    low, high = score.accuracy_interval
    return f"{name} accuracy {score.accuracy:.4f} (95 % interval {low:.4f}-{high:.4f}), loss {score.loss:.4f}"


def _evaluate_and_log(
    config: Mapping[str, Any],
    splits: DatasetSplits,
    model: keras.Model,
    history: dict[str, list[float]],
    augmented: np.ndarray | None,
    output_dir: Path,
    recorder: tracking.RunJournal,
) -> None:
    """Score every test set; log metrics, the plots and the model."""
    scores = score_sets(model, splits.tests, config["batch_size"])
    metrics = test_metrics(scores)
    recorder.log_metrics(metrics)
    log.info("Test results: %s", "; ".join(_result_text(name, score) for name, score in scores.items()))

    tracking.log_figure(plots.training_curves(history), "plots/training_curves.png", recorder)
    limit = config["tracking"]["max_misclassified"]
    for name, score in scores.items():
        title = f"Test set: {name}"
        tracking.log_figure(
            plots.confusion_matrix(score.labels, score.predictions, title), f"plots/confusion_matrix_{name}.png", recorder
        )
        tracking.log_figure(
            plots.misclassified_grid(score.images, score.labels, score.probabilities, limit, title),
            f"plots/misclassified_{name}.png",
            recorder,
        )
    samples = {name: (images[:10], labels[:10]) for name, (images, labels) in splits.tests.items()}
    tracking.log_figure(plots.source_samples(samples), "plots/samples_per_source.png", recorder)
    images, labels = _augmented_preview(config, splits, augmented)
    tracking.log_figure(
        plots.image_grid(images, [str(int(v)) for v in labels], "Augmented training samples"), "plots/augmented_samples.png",
        recorder,
    )
    if config["tracking"]["log_model"]:
        example = splits.train_images[:4].astype(np.float32)[..., None] / 255.0
        uri = tracking.log_keras_model(model, example, output_dir / "mlflow_model", recorder)
        if recorder.store_away:
            log.info("Saved the model for %s; it is sent when the tracking store answers again.", uri)
        else:
            log.info("Logged model %s", uri)
        if config["tracking"].get("register_as"):
            recorder.register_model(config["tracking"]["register_as"])
            log.info("Registering it as a new version of models:/%s", config["tracking"]["register_as"])
