"""Hyperparameter sweeps: MLflow bookkeeping for Hydra multiruns, and Optuna studies shared by workers.

* :mod:`.sweep_callback`: the Hydra callback of every multirun (``conf/hydra/default.yaml``);
* :mod:`.parent_run`: the sweep's MLflow parent run, agreed on by all workers of an Optuna study;
* :mod:`.report`: the report table, best run and plot logged to the parent run;
* :mod:`.storage`: the study database, opened safely by many workers, and a job's trial in it;
* :mod:`.pruners`: Optuna pruners by name (``hydra.sweeper.pruner.name``);
* :mod:`.launchers`: how many jobs the configured launcher runs at once.

The sweeper itself is a Hydra plugin, in ``hydra_plugins/digit_experiments_optuna``.
Importing this package imports nothing; no module here imports TensorFlow.
"""
