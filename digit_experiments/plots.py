"""The figures every run logs: curves, confusion matrices, image grids."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def training_curves(history: Mapping[str, Sequence[float]]) -> Figure:
    """Loss, accuracy and learning rate per epoch, training next to validation."""
    panels = [("loss", "Loss"), ("accuracy", "Accuracy"), ("learning_rate", "Learning rate")]
    panels = [(key, title) for key, title in panels if key in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train" if key != "learning_rate" else "lr")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        if key == "learning_rate":
            ax.set_yscale("log")
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, title: str) -> Figure:
    """A 10×10 confusion matrix with counts."""
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ConfusionMatrixDisplay.from_predictions(
        labels, predictions, labels=list(range(10)), ax=ax, colorbar=False, cmap="Blues"
    )
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], suptitle: str, columns: int = 8) -> Figure:
    """Images in a grid, each with a short title (labels, predictions)."""
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=1 if image.dtype != np.uint8 else 255)
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def misclassified_grid(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, limit: int, title: str
) -> Figure:
    """The most confidently wrong images, titled "true → predicted (probability)"."""
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predictions[wrong]])][:limit]
    titles = [f"{labels[i]} → {predictions[i]} ({probabilities[i, predictions[i]]:.2f})" for i in wrong]
    return image_grid(images[wrong], titles, f"{title}: {len(wrong)} most confident errors")


def source_samples(
    samples: Mapping[str, tuple[np.ndarray, np.ndarray]],
    per_source: int = 10,
    title: str = "Samples per source after standardisation",
) -> Figure:
    """One row per named set (a source, a corruption): its first ``per_source`` images, titled by label."""
    rows = len(samples)
    fig, axes = plt.subplots(rows, per_source, figsize=(1.2 * per_source, 1.4 * rows + 0.4), squeeze=False)
    for row, (name, (images, labels)) in enumerate(samples.items()):
        for column, ax in enumerate(axes[row]):
            ax.axis("off")
            if column < len(images):
                ax.imshow(images[column], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{name}: {labels[column]}" if column == 0 else str(labels[column]), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
