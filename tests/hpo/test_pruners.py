"""The Optuna pruner registry: pruners by ``name``, ``type`` still accepted, clear errors."""

from __future__ import annotations

import optuna
import pytest
from hydra import compose, initialize_config_dir

from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.pruners import PRUNERS, build_pruner, pruner_spec
from helpers import CONF_DIR


def sweeper_pruner(overrides: list[str]) -> dict:
    """``hydra.sweeper.pruner`` of ``hparams_search=dropout_l2`` with ``overrides``, as the sweeper gets it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("train", ["hparams_search=dropout_l2", *overrides], return_hydra_config=True)
    return dict(config.hydra.sweeper.pruner)


def test_every_pruner_of_the_readme_is_registered() -> None:
    assert PRUNERS.names() == sorted(["median", "percentile", "successive_halving", "hyperband", "threshold", "none"])


def test_pruner_is_built_by_name_with_its_arguments() -> None:
    pruner = build_pruner({"name": "threshold", "lower": 0.5, "n_warmup_steps": 2})
    assert isinstance(pruner, optuna.pruners.ThresholdPruner)
    assert isinstance(build_pruner({"name": "none"}), optuna.pruners.NopPruner)
    assert isinstance(build_pruner({}), optuna.pruners.MedianPruner), "median when no pruner is named"


def test_type_is_an_alias_of_name_and_wins_when_set() -> None:
    """``type`` was the key's name; spec stored in older studies and command lines still use it."""
    assert isinstance(build_pruner({"type": "hyperband"}), optuna.pruners.HyperbandPruner)
    assert pruner_spec({"name": "median", "type": "threshold", "lower": 0.9}) == {"name": "threshold", "lower": 0.9}
    assert pruner_spec({"name": "percentile", "type": None, "percentile": 25.0}) == {"name": "percentile", "percentile": 25.0}


def test_config_selects_the_pruner_by_name_or_by_the_type_alias() -> None:
    assert pruner_spec(sweeper_pruner([]))["name"] == "median"
    assert pruner_spec(sweeper_pruner(["hydra.sweeper.pruner.name=hyperband"]))["name"] == "hyperband"
    by_alias = sweeper_pruner(["hydra.sweeper.pruner.type=threshold", "+hydra.sweeper.pruner.lower=0.9",
                               "~hydra.sweeper.pruner.n_startup_trials"])
    assert isinstance(build_pruner(by_alias), optuna.pruners.ThresholdPruner)


def test_unknown_pruner_name_is_one_paragraph_listing_the_valid_names() -> None:
    with pytest.raises(ConfigError) as error:
        build_pruner({"name": "meadian"})
    message = str(error.value)
    assert "\n" not in message and "'meadian'" in message and "hydra.sweeper.pruner.name" in message
    assert all(name in message for name in PRUNERS.names())


def test_unknown_pruner_argument_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="n_startup_trials"):
        build_pruner({"name": "none", "n_startup_trials": 3})
