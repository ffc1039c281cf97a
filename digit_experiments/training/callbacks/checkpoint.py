"""The run's best model: Keras's ModelCheckpoint writing to a path the run owns."""

from __future__ import annotations

from pathlib import Path

import keras

#: Where ModelCheckpoint keeps the best model, relative to the run's output directory.
CHECKPOINT_FILE = Path("checkpoints") / "best.keras"


def build_model_checkpoint(
    output_dir: Path,
    monitor: str = "val_loss",
    mode: str = "auto",
    verbose: int = 0,
    save_freq: str | int = "epoch",
    initial_value_threshold: float | None = None,
) -> keras.callbacks.Callback:
    """Keras's ModelCheckpoint keeping the best model in ``<output_dir>/checkpoints/best.keras``.

    The one factory among the callbacks: the path and ``save_best_only`` belong
    to the run (a resume and the final scoring read that file); every other
    ModelCheckpoint option passes through.
    """
    path = output_dir / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.ModelCheckpoint(
        str(path), monitor=monitor, mode=mode, verbose=verbose, save_best_only=True, save_freq=save_freq,
        initial_value_threshold=initial_value_threshold,
    )
