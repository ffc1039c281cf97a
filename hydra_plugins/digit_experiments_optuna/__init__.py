"""Hydra plugin: the Optuna sweeper of digit_experiments (``hydra/sweeper=digit_optuna``).

Laid out like the official ``hydra-optuna-sweeper``: :mod:`.config` (the
settings, registered in Hydra's ConfigStore), :mod:`.optuna_sweeper` (the
thin :class:`~hydra.plugins.sweeper.Sweeper` Hydra finds) and :mod:`._impl`
(the implementation). Hydra imports every module here except ``_impl`` at the
start of every command, so none of them imports Optuna, MLflow or TensorFlow.
"""
