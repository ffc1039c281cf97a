"""Optuna pruners, built by name from ``hydra.sweeper.pruner``.

The sweeper builds the study's pruner, and each job rebuilds the same one to
ask whether its trial should stop (Optuna keeps no pruner in the study
database). Both read one spec, ``{name: median, n_startup_trials: 3, ...}``:
``name`` picks a pruner class of :data:`PRUNERS`, the other keys are its
arguments. ``type`` is the key's former spelling and still works: when set,
it wins over ``name``, so ``hydra.sweeper.pruner.type=threshold`` on a command
line overrides a config file's ``name``.

Switching pruners with one override (``hydra.sweeper.pruner.name=hyperband``)
must not trip over the options a config file sets for its own pruner (the
shipped search space sets the median pruner's ``n_startup_trials`` and
``n_warmup_steps``). The sweeper therefore passes :func:`checked_pruner_spec`
the keys set on the command line: an option the chosen pruner does not take is
left out when a config file set it for another pruner, and refused when the
user typed it, or when no pruner takes it (a misspelling). Every refusal is one
paragraph naming the option, what the pruner accepts and the override that
fixes it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Collection, Iterable, Mapping

import optuna

from digit_experiments.core.errors import ConfigError, first_line
from digit_experiments.core.registry import Registry

log = logging.getLogger(__name__)

#: Where the pruner's settings live in the config.
PRUNER_KEY = "hydra.sweeper.pruner"

PRUNERS = Registry("pruner", f"{PRUNER_KEY}.name")
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
#: Options a pruner needs (at least one of each tuple), with an example value for the fix.
#: Optuna's signatures give ThresholdPruner's ``lower`` and ``upper`` defaults; it needs one of them.
NEEDED = {
    "percentile": (("percentile", 25),),
    "threshold": (("lower", 0.9), ("upper", 0.1)),
}


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


def pruner_options(name: str) -> list[str]:
    """The keyword arguments pruner ``name`` takes, in its signature's order."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in inspect.signature(PRUNERS.get(name)).parameters.values() if p.kind in named]


def pruner_keys_on_command_line(overrides: Iterable[str]) -> set[str]:
    """The ``hydra.sweeper.pruner`` keys that Hydra overrides (``hydra.overrides.hydra``) set.

    ``hydra.sweeper.pruner.lower=0.9`` (with or without ``+``) sets ``lower``;
    ``hydra.sweeper.pruner={name: threshold, lower: 0.9}`` sets both keys; a
    deletion (``~``) sets nothing.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys: set[str] = set()
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if override.is_delete():
            continue
        if key.startswith(f"{PRUNER_KEY}."):
            keys.add(key[len(PRUNER_KEY) + 1:])
        elif key == PRUNER_KEY and isinstance(override.value(), Mapping):
            keys.update(override.value())
    return keys


def checked_pruner_spec(spec: Mapping[str, Any], command_line: Collection[str] | None = None) -> dict[str, Any]:
    """The spec to build and store: ``type`` resolved, options checked against the chosen pruner.

    Args:
        spec: ``hydra.sweeper.pruner``.
        command_line: The pruner keys the user set on the command line (see
            :func:`pruner_keys_on_command_line`); every other key came from a
            config file. ``None``: provenance unknown, every key counts as the
            user's.

    Returns:
        ``{"name": ..., **options}`` without unset (null) options and without
        the options config files set for another pruner that this one does not take.

    Raises:
        ConfigError: for an unknown pruner, an option it does not take that the
            user set (or that no pruner takes), or a needed option that is missing.
    """
    name, picked_by = _chosen(spec)
    options = {key: value for key, value in pruner_spec(spec).items() if key != "name" and value is not None}
    accepted = pruner_options(name)
    user = set(options) if command_line is None else set(command_line)
    accepts = f"It accepts: {', '.join(accepted)}." if accepted else "It takes no options."
    refused = sorted(key for key in options if key not in accepted and (key in user or not _taken_by_any(key)))
    if refused:
        typed = [key for key in refused if command_line is not None and key in user]
        written = [key for key in refused if key not in typed]
        fixes = []
        if typed:
            overrides = " and ".join(f"`{PRUNER_KEY}.{key}=...`" for key in typed)
            fixes.append(f"drop your {overrides} override{'s' if len(typed) > 1 else ''}")
        if written:
            removals = " ".join(f"`~{PRUNER_KEY}.{key}`" for key in written)
            fixes.append(f"remove {'it' if len(written) == 1 else 'them'} with {removals}")
        spelling = "fix the spelling or " if not all(_taken_by_any(key) for key in refused) else ""
        raise ConfigError(
            f"Pruner {name!r} (picked by `{picked_by}`) does not take the option(s) {', '.join(refused)}. {accepts} "
            f"To fix it, {spelling}{' and '.join(fixes)}{_takers(refused)}."
        )
    left_out = sorted(key for key in options if key not in accepted)
    if left_out:
        log.info("Pruner %r does not take %s, set in the config for another pruner: left out.", name, ", ".join(left_out))
    needed = NEEDED.get(name, ())
    if needed and not any(option in options for option, _ in needed):
        names = " or ".join(f"`{option}`" for option, _ in needed)
        add = " or ".join(f"`{'' if option in spec else '+'}{PRUNER_KEY}.{option}={example}`" for option, example in needed)
        raise ConfigError(
            f"Pruner {name!r} (picked by `{picked_by}`) needs the option {names}, which is not set. {accepts} "
            f"Add it on the command line, e.g. {add}, or pick another pruner."
        )
    return {"name": name, **{key: value for key, value in options.items() if key in accepted}}


def build_pruner(spec: Mapping[str, Any], command_line: Collection[str] | None = None) -> optuna.pruners.BasePruner:
    """The pruner a spec names, built with the spec's other keys as its arguments.

    Args:
        spec: See :func:`pruner_spec`.
        command_line: See :func:`checked_pruner_spec`.

    Returns:
        The Optuna pruner.

    Raises:
        ConfigError: for an unknown pruner name (listing the valid ones), an
            argument the pruner does not take, a missing one or a value Optuna refuses.
    """
    options = checked_pruner_spec(spec, command_line)
    name = options.pop("name")
    try:
        return PRUNERS.get(name)(**options)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"Pruner {name!r} (picked by `{_chosen(spec)[1]}`) refused its options "
            f"{', '.join(f'{key}={value!r}' for key, value in options.items()) or '(none)'}: {first_line(error)} "
            f"Fix the value with `{PRUNER_KEY}.<option>=<value>`."
        ) from error


def _chosen(spec: Mapping[str, Any]) -> tuple[str, str]:
    """The pruner ``spec`` picks and how, e.g. ``("none", "hydra.sweeper.pruner.type=none")``.

    Raises:
        ConfigError: for a name that is not in :data:`PRUNERS`, naming the key that set it.
    """
    key = "type" if spec.get("type") else "name" if spec.get("name") else None
    name = spec[key] if key else DEFAULT_PRUNER
    picked_by = f"{PRUNER_KEY}.{key}={name}" if key else f"the default, {DEFAULT_PRUNER}"
    if name not in PRUNERS:
        raise ConfigError(
            f"Unknown pruner {name!r} (config key `{PRUNER_KEY}.{key or 'name'}`). "
            f"Valid pruner names are: {', '.join(PRUNERS.names())}. "
            f"Pick one of them on the command line, e.g. `{PRUNER_KEY}.{key or 'name'}=median`."
        )
    return name, picked_by


def _taken_by_any(option: str) -> bool:
    """Whether any registered pruner takes ``option`` (if none does, it is a misspelling)."""
    return any(option in pruner_options(name) for name in PRUNERS.names())


def _takers(options: Iterable[str]) -> str:
    """``", or pick a pruner that takes them: ..."`` for the options some pruner takes, else ``""``."""
    takers = [name for name in PRUNERS.names() if set(options) <= set(pruner_options(name))]
    return f", or pick a pruner that takes {'it' if len(list(options)) == 1 else 'them'}: {', '.join(takers)}" if takers else ""
