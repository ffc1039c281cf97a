"""An Optuna search's own settings, checked before the search opens anything: direction, trial count, storage.

Optuna and SQLAlchemy find a mistake in these only when the study is created,
inside the opening of the sweep's parent run, which then blamed the tracking
store with exit status 1 ("directions must be ..."); and a direction that
contradicted ``optimized_metric`` was accepted, so TPE searched for the worst
models while the sweep report ranked them the other way. Each is one paragraph
naming the key here, before any store is touched.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.storage import JOURNAL_PREFIX
from digit_experiments.training.selection import checked_mode

#: The study direction that finds the best value of a metric selected by its minimum or maximum.
DIRECTIONS = {"min": "minimize", "max": "maximize"}


def study_direction(config: Any) -> str:
    """``minimize`` or ``maximize``: the way ``optimized_metric`` is selected, which ``hydra.sweeper.direction`` may only repeat.

    Args:
        config: The multirun's config (``optimized_metric``, ``optimized_mode``, ``hydra.sweeper``).

    Raises:
        ConfigError: for a direction that is neither, or one that contradicts ``optimized_metric``.
    """
    metric, mode = config.optimized_metric, config.get("optimized_mode", "auto")
    resolved = checked_mode(config)
    wanted = DIRECTIONS[resolved]
    direction = config.hydra.sweeper.get("direction")
    if direction is None:
        return wanted
    if direction not in DIRECTIONS.values():
        raise ConfigError(
            f"hydra.sweeper.direction={direction!r} is not a study direction: use minimize or maximize, or leave it "
            f"out (null) to follow optimized_metric ({metric}: {wanted})."
        )
    if direction != wanted:
        raise ConfigError(
            f"hydra.sweeper.direction={direction} contradicts optimized_metric={metric}, which is selected by its "
            f"{resolved}imum (optimized_mode={mode}): the search would look for the worst models, "
            "while the sweep report ranks them the other way. Leave hydra.sweeper.direction out (it follows "
            f"optimized_metric), or set it to {wanted}."
        )
    return direction


def check_study_settings(config: Any) -> None:
    """Refuse, in one paragraph each, a wrong direction, fewer than one trial, or a storage no one can open.

    Args:
        config: The multirun's config.

    Raises:
        ConfigError: naming the key and the fix.
    """
    study_direction(config)
    sweeper = config.hydra.sweeper
    if sweeper.n_trials < 1:
        raise ConfigError(
            f"hydra.sweeper.n_trials={sweeper.n_trials}: a search needs at least one trial. It counts the study's "
            "trials over every worker and session, so re-running a finished search with a higher n_trials adds trials."
        )
    _check_storage(str(sweeper.storage))


def _check_storage(storage: str) -> None:
    """Refuse a study storage whose URL names no database SQLAlchemy has a driver for (``postgres://``)."""
    if storage.startswith(JOURNAL_PREFIX) or "://" not in storage:
        return
    try:
        sqlalchemy.engine.make_url(storage).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise ConfigError(
            f"hydra.sweeper.storage={storage} is not a study storage Optuna can open ({error}). Use an SQLAlchemy "
            "URL such as sqlite:///outputs/optuna/<study>.db or postgresql+psycopg2://user@host/db, or "
            "journal:<path> for a file on a shared filesystem."
        ) from None
