"""One training run, start to finish: the body of ``python -m digit_experiments.train``.

validate config → seed and set up TensorFlow → load data → (static
augmentation) → MLflow run { log config and data checksums → build, compile
and fit the model → score the best checkpoint on every test set → log
metrics, plots and the model } → return the optimised metric.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import keras
import mlflow
import numpy as np
from omegaconf import DictConfig, OmegaConf

from digit_experiments import plots, tracking, trainer
from digit_experiments.augment.albumentations_set import static_copy
from digit_experiments.callbacks import CHECKPOINT_FILE, build_callbacks
from digit_experiments.dataset import DatasetSplits, load_dataset
from digit_experiments.evaluation import score_sets, test_metrics
from digit_experiments.model import build_model
from digit_experiments.optimizer import build_optimizer
from digit_experiments.paths import resolve
from digit_experiments.pipeline import evaluation_dataset, training_dataset
from digit_experiments.validation import validate

log = logging.getLogger(__name__)


def run(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Train, evaluate and track one model as configured.

    Args:
        cfg: The composed run config (conf/train.yaml and its groups).
        overrides: The command-line overrides, recorded with the run.

    Returns:
        The best epoch's value of ``cfg.optimized_metric``.
    """
    config = validate(cfg)
    output_dir = resolve(config["paths"]["output_dir"])
    runtime = config["trainer"]
    trainer.configure_runtime(config["seed"], runtime["precision"], runtime["threads"])

    splits = load_dataset(data_dir=resolve(config["paths"]["data_dir"]), seed=config["seed"], **config["dataset"])
    log.info("Data: %s", splits.summary())
    augmented = _static_augmentation(splits.train_images, config["augment"], config["seed"])

    tags = {**tracking.git_tags(), **tracking.data_tags(splits.checksums, splits.notes)}
    with tracking.tracked_run(config["tracking"], tags=tags) as active:
        log.info("MLflow run %s in %s", active.info.run_id, mlflow.get_tracking_uri())
        tracking.log_config(config, OmegaConf.to_yaml(cfg, resolve=True), list(overrides or []))
        model, history = _train(config, splits, augmented, output_dir)
        _evaluate_and_log(config, splits, model, history, augmented, output_dir)
        metric = trainer.best_value(history, config["optimized_metric"])
        mlflow.log_metric(f"best_{config['optimized_metric']}", metric)
    return metric


def _static_augmentation(images: np.ndarray, augment: Mapping[str, Any], seed: int) -> np.ndarray | None:
    """The cached static Albumentations copy, when the augment config asks for one."""
    albumentations = augment.get("albumentations") or {}
    if albumentations.get("mode") != "static" or not albumentations.get("transforms"):
        return None
    return static_copy(images, albumentations["transforms"], seed)


def _datasets(config: Mapping[str, Any], splits: DatasetSplits, augmented: np.ndarray | None):
    """The training and validation tf.data pipelines."""
    pipeline = config["pipeline"]
    train = training_dataset(
        splits.train_images, splits.train_labels, config["batch_size"], config["seed"], config["augment"],
        augmented, **pipeline,
    )
    validation = evaluation_dataset(splits.val_images, splits.val_labels, config["batch_size"], **pipeline)
    return train, validation


def _train(config: Mapping[str, Any], splits: DatasetSplits, augmented: np.ndarray | None, output_dir: Path):
    """Build, compile and fit the model; return the best checkpoint and the history."""
    train, validation = _datasets(config, splits, augmented)
    model = trainer.compile_model(build_model(config["model"]), build_optimizer(config["optimizer"]))
    mlflow.log_param("model.parameters", model.count_params())
    callbacks = build_callbacks(config["callbacks"], output_dir) + [tracking.MlflowMetricsLogger()]
    result = trainer.fit(model, train, validation, config["epochs"], callbacks, config["trainer"]["verbose"])
    mlflow.log_metric("epochs_trained", len(result.epoch))
    checkpoint = output_dir / CHECKPOINT_FILE
    if checkpoint.exists():
        model = keras.models.load_model(checkpoint)
    return model, result.history


def _evaluate_and_log(
    config: Mapping[str, Any],
    splits: DatasetSplits,
    model: keras.Model,
    history: dict[str, list[float]],
    augmented: np.ndarray | None,
    output_dir: Path,
) -> None:
    """Score every test set; log metrics, the plots and the model."""
    scores = score_sets(model, splits.tests, config["batch_size"])
    metrics = test_metrics(scores)
    mlflow.log_metrics(metrics)
    log.info("Test results: %s", ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

    tracking.log_figure(plots.training_curves(history), "plots/training_curves.png")
    limit = config["tracking"]["max_misclassified"]
    for name, score in scores.items():
        title = f"Test set: {name}"
        tracking.log_figure(plots.confusion_matrix(score.labels, score.predictions, title), f"plots/confusion_matrix_{name}.png")
        tracking.log_figure(
            plots.misclassified_grid(score.images, score.labels, score.probabilities, limit, title),
            f"plots/misclassified_{name}.png",
        )
    samples = {name: (images[:10], labels[:10]) for name, (images, labels) in splits.tests.items()}
    tracking.log_figure(plots.source_samples(samples), "plots/samples_per_source.png")
    train, _ = _datasets(config, splits, augmented)
    images, labels = next(iter(train.take(1)))
    tracking.log_figure(
        plots.image_grid(images.numpy()[:32], [str(int(v)) for v in labels.numpy()[:32]], "Augmented training samples"),
        "plots/augmented_samples.png",
    )
    if config["tracking"]["log_model"]:
        example = splits.val_images[:4].astype(np.float32)[..., None] / 255.0
        uri = tracking.log_keras_model(model, example, output_dir / "mlflow_model")
        log.info("Logged model %s", uri)
