"""Learning-rate schedules for the ``optimizer.schedule`` config key, as Keras ``LearningRateSchedule`` objects.

A schedule is a function of the optimizer's step counter, which Keras saves
with the optimizer: a resumed run continues its schedule where it stopped,
and the logged ``learning_rate`` is the scheduled value. Cosine with warm-up
and exponential decay are Keras's own; Keras has no one-cycle schedule, so
:class:`OneCycle` is written here.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from digit_experiments.core.registry import Registry

SCHEDULES = Registry("learning-rate schedule", "optimizer.schedule.name")


@keras.saving.register_keras_serializable(package="digit_experiments")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy: a cosine rise to the peak rate, then a cosine fall to nearly zero.

    Args:
        peak_learning_rate: The highest rate, reached after ``warmup_steps``.
        total_steps: Steps of the whole run (epochs x steps per epoch).
        warmup_steps: Steps of the rise.
        start_factor: The first rate is ``peak / start_factor``.
        end_factor: The last rate is ``peak / end_factor``.
    """

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        warmup_steps: int,
        start_factor: float = 25.0,
        end_factor: float = 1e4,
    ) -> None:
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        peak = self.peak_learning_rate
        start, end = peak / self.start_factor, peak / self.end_factor
        rise = keras.ops.clip(step / max(self.warmup_steps, 1), 0.0, 1.0)
        fall_steps = max(self.total_steps - self.warmup_steps, 1)
        fall = keras.ops.clip((step - self.warmup_steps) / fall_steps, 0.0, 1.0)
        rising = start + (peak - start) * (1.0 - keras.ops.cos(math.pi * rise)) / 2.0
        falling = end + (peak - end) * (1.0 + keras.ops.cos(math.pi * fall)) / 2.0
        return keras.ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
        }


@SCHEDULES.register("one_cycle")
def one_cycle(
    learning_rate: float, steps_per_epoch: int, epochs: int, warmup_fraction: float = 0.25,
    start_factor: float = 25.0, end_factor: float = 1e4,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """One cycle over the whole run, peaking at ``optimizer.learning_rate`` after ``warmup_fraction`` of it."""
    total = steps_per_epoch * epochs
    return OneCycle(learning_rate, total, round(total * warmup_fraction), start_factor, end_factor)


@SCHEDULES.register("cosine")
def cosine(
    learning_rate: float, steps_per_epoch: int, epochs: int, warmup_epochs: float = 1.0, final_fraction: float = 0.0
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to ``optimizer.learning_rate`` over ``warmup_epochs``, then cosine decay to ``final_fraction`` of it."""
    warmup = round(steps_per_epoch * warmup_epochs)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 25.0 if warmup else learning_rate,
        decay_steps=max(steps_per_epoch * epochs - warmup, 1),
        alpha=final_fraction,
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )


@SCHEDULES.register("exponential")
def exponential(
    learning_rate: float, steps_per_epoch: int, epochs: int, decay_per_epoch: float = 0.95
) -> keras.optimizers.schedules.LearningRateSchedule:
    """``optimizer.learning_rate`` multiplied by ``decay_per_epoch`` after every epoch (Deotte's 0.95)."""
    return keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=steps_per_epoch, decay_rate=decay_per_epoch, staircase=True
    )
