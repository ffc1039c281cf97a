"""The Optuna sweeper's sampling on a real SQLite study, without training: workers and resumed
sessions draw their own points, and a fresh study is reproducible from ``sampler_seed``."""

from __future__ import annotations

from pathlib import Path

import optuna
from omegaconf import OmegaConf

from hydra_plugins.digit_experiments_optuna._impl import DigitOptunaSweeperImpl, ask
from hydra_plugins.digit_experiments_optuna._search_space import search_space

PARAMS = {
    "model.conv_dropout": {"type": "float", "low": 0.0, "high": 0.4},
    "model.l2": {"type": "float", "low": 1.0e-6, "high": 1.0e-2, "log": True},
    "epochs": {"type": "int", "low": 1, "high": 9, "step": 2},
    "batch_size": {"type": "categorical", "choices": [128, 256, 384]},
}


def worker(storage: str, seed: int = 42) -> tuple[DigitOptunaSweeperImpl, optuna.Study]:
    """One worker's sweeper and its own study object on ``storage``, as a process opens them."""
    settings = {
        "study_name": "search", "storage": storage, "direction": "maximize", "n_trials": 10,
        "sampler_seed": seed, "pruner": {"name": "median"}, "params": PARAMS, "heartbeat_interval": 60, "stale_after": 300,
    }
    sweeper = DigitOptunaSweeperImpl(settings)
    sweeper.config = OmegaConf.create({"optimized_metric": "val_accuracy", "hydra": {"overrides": {"hydra": []}, "sweeper": settings}})
    return sweeper, sweeper._study()


def draw(sweeper: DigitOptunaSweeperImpl, study: optuna.Study, value: float | None = None) -> dict:
    """Ask the next trial as the sweeper does; tell ``value`` if given. Returns its parameters."""
    trial = ask(study, search_space(PARAMS, []).distributions, sweeper.settings["sampler_seed"])
    if value is not None:
        study.tell(trial, value)
    return trial.params


def test_interleaved_workers_draw_distinct_parameters(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    first, second = worker(storage), worker(storage)
    drawn = [draw(*first), draw(*second), draw(*first), draw(*second)]
    assert all(set(params) == set(PARAMS) for params in drawn)
    for param in ("model.conv_dropout", "model.l2"):
        values = [params[param] for params in drawn]
        assert len(set(values)) == len(values), f"{param} repeated across workers: {values}"
    numbers = sorted(t.number for t in optuna.load_study(study_name="search", storage=storage).trials)
    assert numbers == [0, 1, 2, 3]


def test_resumed_session_does_not_repeat_earlier_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    session = worker(storage)
    before = [draw(*session, value=0.5), draw(*session, value=0.6)]
    resumed = draw(*worker(storage))  # a new process: new sweeper and study objects on the same storage
    assert all(resumed["model.conv_dropout"] != params["model.conv_dropout"] for params in before)
    assert all(resumed["model.l2"] != params["model.l2"] for params in before)


def test_fresh_studies_with_the_same_seed_draw_the_same_parameters(tmp_path: Path) -> None:
    one, other = worker(f"sqlite:///{tmp_path}/one.db"), worker(f"sqlite:///{tmp_path}/other.db")
    assert [draw(*one, value=0.5) for _ in range(3)] == [draw(*other, value=0.5) for _ in range(3)]
    assert draw(*worker(f"sqlite:///{tmp_path}/seed7.db", seed=7)) != draw(*worker(f"sqlite:///{tmp_path}/seed42.db"))


def test_sampling_keeps_each_distributions_settings(tmp_path: Path) -> None:
    sweeper, study = worker(f"sqlite:///{tmp_path}/study.db")
    for _ in range(12):  # past TPE's 10 random start-up trials
        params = draw(sweeper, study, value=0.5)
        assert 0.0 <= params["model.conv_dropout"] <= 0.4 and 1.0e-6 <= params["model.l2"] <= 1.0e-2
        assert params["epochs"] in (1, 3, 5, 7, 9) and params["batch_size"] in (128, 256, 384)
    assert study.trials[-1].distributions == search_space(PARAMS, []).distributions
