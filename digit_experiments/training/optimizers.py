"""Optimizers, built by name from the ``optimizer`` config group."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from digit_experiments.core.registry import Registry, plain

OPTIMIZERS = Registry("optimizer", "optimizer.name")


@OPTIMIZERS.register("adam")
def build_adam(
    learning_rate: float = 1e-3,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> keras.optimizers.Optimizer:
    """Adam with optional gradient clipping by norm or by value (the seed clips gradients)."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, clipnorm=clipnorm, clipvalue=clipvalue
    )


@OPTIMIZERS.register("sgd")
def build_sgd(
    learning_rate: float = 1e-2,
    momentum: float = 0.9,
    nesterov: bool = True,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
) -> keras.optimizers.Optimizer:
    """SGD with (Nesterov) momentum and optional gradient clipping."""
    return keras.optimizers.SGD(
        learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, clipnorm=clipnorm, clipvalue=clipvalue
    )


def build_optimizer(config: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """Build the optimizer named by ``config["name"]`` with the remaining keys as arguments."""
    options = plain(config)
    return OPTIMIZERS.build(options.pop("name"), **options)
