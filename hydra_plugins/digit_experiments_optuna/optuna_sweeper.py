"""The Optuna sweeper of digit_experiments as Hydra sees it: a thin :class:`Sweeper`.

Hydra imports every plugin module while it scans ``hydra_plugins/`` at the
start of every command, ``--help`` included. This module therefore imports
only Hydra; the implementation (Optuna, the study database, the launcher) is in
:mod:`._impl`, imported only when a multirun sets the sweeper up, as the
official ``hydra-optuna-sweeper`` does. The settings are in :mod:`.config`.
"""

from typing import Any, List

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class DigitOptunaSweeper(Sweeper):
    """Runs Optuna trials as Hydra jobs until ``n_trials`` of the study's trials have an outcome or a worker.

    Args:
        **settings: ``hydra.sweeper`` (see :class:`.config.DigitOptunaSweeperConf`).
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.sweeper: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Build the implementation and set up the launcher (the search space is read when the sweep starts)."""
        from hydra_plugins.digit_experiments_optuna._impl import DigitOptunaSweeperImpl

        self.sweeper = DigitOptunaSweeperImpl(self.settings)
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> List[Any]:
        """Ask, run and tell trials until the study is complete.

        Args:
            arguments: The command line's overrides: its sweeps join the search space, and the
                others are passed on to every job.

        Returns:
            The jobs' results.
        """
        return self.sweeper.sweep(arguments)
