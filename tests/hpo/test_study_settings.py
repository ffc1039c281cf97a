"""An Optuna search's direction, trial count and storage, checked on the composed config before anything opens."""

from __future__ import annotations

import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.study_settings import check_study_settings, study_direction
from helpers import compose_config


def _search(*overrides: str):
    return compose_config(["hparams_search=dropout_l2", *overrides], return_hydra_config=True)


@pytest.mark.parametrize(("overrides", "direction"), [
    ((), "maximize"),  # the search space's own optimized_metric, val_accuracy
    (("optimized_metric=val_loss",), "minimize"),
    (("optimized_metric=val_loss", "optimized_mode=max"), "maximize"),
    (("optimized_metric=val_loss", "hydra.sweeper.direction=minimize"), "minimize"),
])
def test_the_study_direction_follows_optimized_metric(overrides: tuple[str, ...], direction: str) -> None:
    assert study_direction(_search(*overrides)) == direction


@pytest.mark.parametrize(("overrides", "message"), [
    (("optimized_metric=val_loss", "hydra.sweeper.direction=maximize"),
     "hydra.sweeper.direction=maximize contradicts optimized_metric=val_loss, which is selected by its minimum"),
    (("hydra.sweeper.direction=minimize",), "contradicts optimized_metric=val_accuracy, which is selected by its maximum"),
    (("hydra.sweeper.direction=maximise",), "hydra.sweeper.direction='maximise' is not a study direction"),
    (("optimized_mode=lowest",), "Invalid value for `optimized_mode`: 'lowest'"),
    (("hydra.sweeper.n_trials=0",), "hydra.sweeper.n_trials=0: a search needs at least one trial"),
    (("hydra.sweeper.storage=postgres://host/db",), "hydra.sweeper.storage=postgres://host/db is not a study storage"),
    (("hydra.sweeper.storage=mysqll://host/db",), "(Can't load plugin: sqlalchemy.dialects:mysqll)"),
])
def test_a_mistake_in_the_search_settings_is_one_paragraph_naming_the_key(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_study_settings(_search(*overrides))
    assert message in str(raised.value)


@pytest.mark.parametrize("storage", ["sqlite:///outputs/optuna/s.db", "postgresql+psycopg2://user@host/db", "journal:/tmp/s.log"])
def test_storages_optuna_opens_pass_without_being_opened(storage: str) -> None:
    check_study_settings(_search(f"hydra.sweeper.storage={storage}"))
