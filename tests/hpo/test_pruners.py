"""The Optuna pruner registry: pruners by ``name``, ``type`` still accepted, switching in one override, clear errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir

from digit_experiments.core.errors import ConfigError
from digit_experiments.hpo.pruners import (
    PRUNER_ATTR, PRUNERS, build_pruner, checked_pruner_spec, pruner_keys_on_command_line, pruner_spec,
)
from helpers import CONF_DIR, run_cli
from hydra_plugins.digit_experiments_optuna._impl import DigitOptunaSweeperImpl


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


# --- switching the pruner of the shipped search space with one override --------------------------


def sweeper(overrides: list[str], tmp_path: Path) -> DigitOptunaSweeperImpl:
    """The Optuna sweeper of ``hparams_search=dropout_l2`` with ``overrides`` on the command line (study in ``tmp_path``)."""
    storage = f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("train", ["hparams_search=dropout_l2", storage, *overrides], return_hydra_config=True)
    impl = DigitOptunaSweeperImpl(config.hydra.sweeper)
    impl.config = config  # what setup() keeps; no launcher: nothing may train here
    return impl


@pytest.mark.parametrize(("overrides", "pruner", "options"), [
    (["hydra.sweeper.pruner.name=none"], optuna.pruners.NopPruner, {}),
    (["hydra.sweeper.pruner.type=none"], optuna.pruners.NopPruner, {}),
    (["hydra.sweeper.pruner.name=hyperband"], optuna.pruners.HyperbandPruner, {}),
    (["hydra.sweeper.pruner.name=successive_halving"], optuna.pruners.SuccessiveHalvingPruner, {}),
    (["hydra.sweeper.pruner.name=threshold", "+hydra.sweeper.pruner.lower=0.9"], optuna.pruners.ThresholdPruner,
     {"lower": 0.9, "n_warmup_steps": 2}),
    (["hydra.sweeper.pruner.name=percentile", "+hydra.sweeper.pruner.percentile=25"], optuna.pruners.PercentilePruner,
     {"percentile": 25, "n_startup_trials": 3, "n_warmup_steps": 2}),
    ([], optuna.pruners.MedianPruner, {"n_startup_trials": 3, "n_warmup_steps": 2}),
])
def test_switching_the_pruner_by_name_leaves_out_the_median_options_it_does_not_take(
    overrides: list[str], pruner: type, options: dict, tmp_path: Path
) -> None:
    """The shipped search space sets median's options; a pruner picked on the command line that does
    not take them runs without them, and the jobs rebuild that same pruner from the study."""
    study = sweeper(overrides, tmp_path)._study()
    assert isinstance(study.pruner, pruner)
    stored = study.user_attrs[PRUNER_ATTR]
    assert stored == {"name": stored["name"], **options}
    assert isinstance(build_pruner(stored), pruner), "a job rebuilds the pruner from the stored spec"


def user_error(overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one-paragraph message a sweep with ``overrides`` exits with (status 2) before any job."""
    with pytest.raises(SystemExit) as exit_:
        sweeper(overrides, tmp_path).sweep([])
    assert exit_.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("Error: ") and "\n" not in message and "Traceback" not in message
    return message


def test_percentile_without_its_percentile_names_the_option_the_key_used_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("name", "type"):
        message = user_error([f"hydra.sweeper.pruner.{key}=percentile"], tmp_path, capsys)
        assert f"`hydra.sweeper.pruner.{key}=percentile`" in message
        assert "`percentile`" in message and "`+hydra.sweeper.pruner.percentile=25`" in message
        assert "It accepts: percentile, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials." in message


def test_threshold_without_lower_or_upper_says_how_to_add_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = user_error(["hydra.sweeper.pruner.type=threshold"], tmp_path, capsys)
    assert "`hydra.sweeper.pruner.type=threshold`" in message and "`lower` or `upper`" in message
    assert "`+hydra.sweeper.pruner.lower=0.9`" in message and "It accepts: lower, upper, n_warmup_steps, interval_steps." in message


def test_an_option_the_user_sets_that_the_pruner_does_not_take_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = user_error(["hydra.sweeper.pruner.type=none", "hydra.sweeper.pruner.n_warmup_steps=3"], tmp_path, capsys)
    assert "Pruner 'none' (picked by `hydra.sweeper.pruner.type=none`)" in message
    assert "n_warmup_steps" in message and "n_startup_trials" not in message.split("It takes")[0]
    assert "It takes no options." in message and "drop your `hydra.sweeper.pruner.n_warmup_steps=...` override" in message
    message = user_error(["hydra.sweeper.pruner.name=hyperband", "+hydra.sweeper.pruner.lower=0.5"], tmp_path, capsys)
    assert "`hydra.sweeper.pruner.name=hyperband`" in message and "option(s) lower." in message
    assert "It accepts: min_resource, max_resource, reduction_factor, bootstrap_count." in message
    assert "pick a pruner that takes it: threshold" in message


def test_without_provenance_every_option_is_checked_and_the_removal_is_given() -> None:
    """A spec built outside the sweeper (a job, a stored study) is checked strictly."""
    with pytest.raises(ConfigError) as error:
        build_pruner({"name": "none", "n_startup_trials": 3, "n_warmup_steps": 2})
    message = str(error.value)
    assert "It takes no options." in message and "It accepts: ." not in message
    assert "`~hydra.sweeper.pruner.n_startup_trials` `~hydra.sweeper.pruner.n_warmup_steps`" in message


def test_a_misspelt_option_in_a_config_file_is_refused_even_when_not_typed() -> None:
    with pytest.raises(ConfigError, match=r"n_warmup_step\b.*fix the spelling or remove it with `~hydra.sweeper.pruner.n_warmup_step`"):
        checked_pruner_spec({"name": "median", "n_warmup_step": 2}, command_line=set())


def test_a_value_optuna_refuses_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Percentile must be between 0 and 100"):
        build_pruner({"name": "percentile", "percentile": 150})


def test_unknown_pruner_picked_by_type_names_type() -> None:
    with pytest.raises(ConfigError, match=r"config key `hydra.sweeper.pruner.type`"):
        build_pruner({"name": "median", "type": "meadian"})


def test_pruner_keys_on_command_line_reads_hydra_overrides() -> None:
    keys = pruner_keys_on_command_line([
        "hydra.sweeper.pruner.name=threshold", "+hydra.sweeper.pruner.lower=0.9", "~hydra.sweeper.pruner.n_startup_trials",
        "hydra.sweeper.n_trials=3", "hydra.sweeper.pruner={upper: 1.0}",
    ])
    assert keys == {"name", "lower", "upper"}


@pytest.mark.e2e
def test_a_search_runs_with_the_pruner_switched_off_in_one_override(data_dir: Path, tmp_path: Path) -> None:
    args = ["-m", "hparams_search=dropout_l2", "hydra.sweeper.n_trials=1", "hydra.sweeper.pruner.name=none",
            "debug=smoke", "model=tiny", "augment=none", "epochs=1", f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db"]
    result = run_cli("digit_experiments.train", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="dropout_l2", storage=f"sqlite:///{tmp_path}/study.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
    assert study.user_attrs[PRUNER_ATTR] == {"name": "none"}
