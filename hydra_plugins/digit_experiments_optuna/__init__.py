"""Hydra plugin: the Optuna sweeper of digit_experiments (``hydra/sweeper=digit_optuna``).

Laid out like the official ``hydra-optuna-sweeper``: :mod:`.config` (the
settings, registered in Hydra's ConfigStore), :mod:`.optuna_sweeper` (the
thin :class:`~hydra.plugins.sweeper.Sweeper` Hydra finds), :mod:`._impl`
(the implementation) and :mod:`._search_space` (the config's and the command
line's search space). Hydra imports every module here except those starting
with ``_`` at the start of every command, so none of them imports Optuna,
MLflow or TensorFlow.
"""
