"""The search space of a ``digit_optuna`` sweep: ``hydra.sweeper.params`` joined by the command line's sweeps.

As with Hydra's own Optuna sweeper, a sweep typed on the command line adds a
parameter (``'model.l2=tag(log,interval(1e-5,1e-2))'``, ``batch_size=128,256``),
and a plain value fixes one that the config searches (``model.l2=1e-4``).
That sweeper pins Optuna 2.10 (see :mod:`._impl`), so its conversion of
overrides into distributions cannot be imported; this module does the same on
Hydra's override parser and Optuna 4's distributions.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Sequence

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from digit_experiments.core.errors import UserError

log = logging.getLogger(__name__)

#: The values a command-line sweep may take, so that a trial's override can be written back.
CATEGORICAL_TYPES = (str, int, float, bool, type(None))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a sweep samples and what every trial's job gets unchanged.

    Attributes:
        distributions: The parameters to sample, by override key (``+key`` for one the config lacks).
        fixed: The command line's other overrides, passed on to every job as typed.
    """

    distributions: dict[str, optuna.distributions.BaseDistribution]
    fixed: list[str]


def search_space(params: Mapping[str, Mapping[str, Any]], arguments: Sequence[str]) -> SearchSpace:
    """The sweep's search space: ``params``, plus the sweeps of ``arguments``, less the keys they fix.

    Args:
        params: ``hydra.sweeper.params``: ``{key: {type: float|int|categorical, ...}}``.
        arguments: The command line's overrides.

    Returns:
        The distributions to sample and the overrides every job gets.

    Raises:
        UserError: for an unknown ``type``, a sweep Optuna cannot sample, or nothing to search.
    """
    distributions = {name: distribution(name, dict(spec)) for name, spec in params.items()}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        if override.is_sweep_override():
            distributions[override.get_key_element()] = sweep_distribution(override)
            continue
        if distributions.pop(override.key_or_group, None) is not None:
            log.info("%s on the command line fixes a key hydra.sweeper.params searches: the search leaves it out.",
                     override.input_line)
        fixed.append(override.input_line)
    if not distributions:
        raise UserError(
            "Nothing to search: hydra.sweeper.params is empty and the command line sweeps no key. Pick a search "
            "space with hparams_search=<name> (conf/hparams_search/), or sweep a key on the command line, for "
            "example 'model.l2=tag(log,interval(1e-5,1e-2))' or batch_size=128,256."
        )
    return SearchSpace(distributions, fixed)


def distribution(name: str, spec: Mapping[str, Any]) -> optuna.distributions.BaseDistribution:
    """An Optuna distribution from ``{type: float|int|categorical, ...}``.

    Args:
        name: The config key searched over, for the error message.
        spec: ``type`` and its options: ``low``, ``high``, ``log``, ``step`` or ``choices``.

    Returns:
        The distribution.

    Raises:
        UserError: for an unknown ``type``.
    """
    kind = spec.get("type")
    if kind == "float":
        return optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step"))
    if kind == "int":
        return optuna.distributions.IntDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1))
    if kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(spec["choices"]))
    raise UserError(
        f"Search parameter {name!r} has type {kind!r}; use float (low, high, log), int (low, high) "
        "or categorical (choices) in hydra.sweeper.params."
    )


def sweep_distribution(override: Override) -> optuna.distributions.BaseDistribution:
    """The distribution of a command-line sweep, as Hydra's Optuna sweeper reads it.

    ``interval(a,b)`` is a float between a and b (``tag(log,interval(a,b))`` on a log
    scale); ``range(start,stop,step)`` the same grid of ints or floats, ``stop``
    excluded as in Hydra's basic sweeper; a list of values (``1,2,3`` or
    ``choice(...)``) is categorical.

    Raises:
        UserError: for a glob, or a choice among lists or dicts, which Optuna cannot sample.
    """
    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        return optuna.distributions.FloatDistribution(sweep.start, sweep.end, log="log" in sweep.tags)
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if all(isinstance(value, int) for value in values):
            return optuna.distributions.IntDistribution(values[0], values[-1], step=int(sweep.step))
        return optuna.distributions.FloatDistribution(values[0], values[-1], step=float(sweep.step))
    if isinstance(sweep, ChoiceSweep):
        choices = list(override.sweep_iterator())
        if all(isinstance(choice, CATEGORICAL_TYPES) for choice in choices):
            return optuna.distributions.CategoricalDistribution(choices)
    raise UserError(
        f"The Optuna sweeper cannot sample `{override.input_line}`: sweep a key with a list of plain values "
        "(a,b,c or choice(a,b,c); for a config group, its options by name), range(start,stop,step), or "
        "interval(low,high) (tag(log,interval(low,high)) for a log scale)."
    )
