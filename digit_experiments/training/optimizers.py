"""Optimizers, built by name from the ``optimizer`` config group.

The entries are Keras's own optimizer classes, so every Keras option is a
config key: ``clipnorm``, ``weight_decay`` (decoupled, as in AdamW), and
``use_ema`` / ``ema_momentum`` (weight averaging) among them. One key is the
project's: ``schedule``, a learning-rate schedule built from
``learning_rate`` and the run's length (:mod:`.schedules`).
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.registry import Registry, plain
from digit_experiments.training.schedules import SCHEDULES

OPTIMIZERS = Registry("optimizer", "optimizer.name")
OPTIMIZERS.register("adam")(keras.optimizers.Adam)
OPTIMIZERS.register("adamw")(keras.optimizers.AdamW)
OPTIMIZERS.register("sgd")(keras.optimizers.SGD)


def check_optimizer(config: Mapping[str, Any]) -> None:
    """Fail early on an unknown optimizer or schedule, or an option either does not take."""
    options = plain(config)
    schedule = options.pop("schedule", None)
    OPTIMIZERS.check_arguments(options.pop("name"), options)
    if schedule:
        if not isinstance(schedule, Mapping) or "name" not in schedule:
            raise ConfigError(
                f"`optimizer.schedule` must be null or a mapping with a `name`, got {schedule!r}. Write it as "
                "'optimizer.schedule={name: one_cycle, warmup_fraction: 0.25}' (quoted), with one of: "
                f"{', '.join(SCHEDULES.names())}."
            )
        schedule = dict(schedule)
        SCHEDULES.check_arguments(schedule.pop("name"), [*schedule, "learning_rate", "steps_per_epoch", "epochs"])


def build_optimizer(config: Mapping[str, Any], steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """The optimizer named by ``config["name"]``, its learning rate scheduled when ``config["schedule"]`` is set.

    With ``use_ema``, the model's weights are replaced by their moving average
    at the end of every epoch (unless ``ema_overwrite_frequency`` says
    otherwise), so that validation, the checkpoint and the tested model all see
    the averaged weights.

    Args:
        config: The ``optimizer`` config.
        steps_per_epoch: Optimizer steps in one epoch.
        epochs: Epochs of the whole run (a schedule spans them).
    """
    options = plain(config)
    name, schedule = options.pop("name"), options.pop("schedule", None)
    if schedule:
        schedule = dict(schedule)
        options["learning_rate"] = SCHEDULES.build(
            schedule.pop("name"), learning_rate=options["learning_rate"], steps_per_epoch=steps_per_epoch,
            epochs=epochs, **schedule,
        )
    if options.get("use_ema") and options.get("ema_overwrite_frequency") is None:
        options["ema_overwrite_frequency"] = steps_per_epoch
    return OPTIMIZERS.build(name, **options)
