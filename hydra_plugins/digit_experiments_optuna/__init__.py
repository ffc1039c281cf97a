"""Hydra plugin: the Optuna sweeper of digit_experiments (``hydra/sweeper=digit_optuna``)."""
