"""Optuna pruners, built by name from ``hydra.sweeper.pruner``.

The sweeper builds the study's pruner, and each job rebuilds the same one to
ask whether its trial should stop (Optuna keeps no pruner in the study
database). Both read one spec, ``{name: median, n_startup_trials: 3, ...}``:
``name`` picks a pruner class of :data:`PRUNERS`, the other keys are its
arguments. ``type`` is the key's former spelling and still works: when set,
it wins over ``name``, so ``hydra.sweeper.pruner.type=threshold`` on a command
line overrides a config file's ``name``.
"""

from __future__ import annotations

from typing import Any, Mapping

import optuna

from digit_experiments.core.registry import Registry

PRUNERS = Registry("pruner", "hydra.sweeper.pruner.name")
PRUNERS.register("median")(optuna.pruners.MedianPruner)
PRUNERS.register("percentile")(optuna.pruners.PercentilePruner)
PRUNERS.register("successive_halving")(optuna.pruners.SuccessiveHalvingPruner)
PRUNERS.register("hyperband")(optuna.pruners.HyperbandPruner)
PRUNERS.register("threshold")(optuna.pruners.ThresholdPruner)
PRUNERS.register("none")(optuna.pruners.NopPruner)

#: Study user attribute holding the pruner spec, so every process prunes alike.
PRUNER_ATTR = "pruner"
#: The pruner of a spec that names none.
DEFAULT_PRUNER = "median"


def pruner_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with its pruner under ``name`` only: the ``type`` alias resolved, the default filled in.

    Args:
        spec: ``hydra.sweeper.pruner`` (or a spec stored in a study), as a plain mapping.

    Returns:
        ``{"name": <pruner name>, **<pruner arguments>}``.
    """
    options = dict(spec)
    name = options.pop("name", None)
    alias = options.pop("type", None)
    return {"name": alias or name or DEFAULT_PRUNER, **options}


def build_pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner a spec names, built with the spec's other keys as its arguments.

    Args:
        spec: See :func:`pruner_spec`.

    Returns:
        The Optuna pruner.

    Raises:
        ConfigError: for an unknown pruner name (listing the valid ones) or an
            argument the pruner does not take.
    """
    options = pruner_spec(spec)
    return PRUNERS.build(options.pop("name"), **options)
