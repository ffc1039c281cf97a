"""The Optuna sweeper's search space: ``hydra.sweeper.params`` joined by sweeps typed on the command line,
less the keys the command line fixes, parsed by Hydra's own override parser."""

from __future__ import annotations

import logging
import re

import optuna
import pytest

from digit_experiments.core.errors import UserError
from hydra_plugins.digit_experiments_optuna._search_space import search_space

PARAMS = {
    "model.l2": {"type": "float", "low": 1.0e-6, "high": 1.0e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [128, 256]},
}


def test_command_line_sweeps_join_the_search_and_a_plain_value_fixes_a_searched_key(caplog: pytest.LogCaptureFixture) -> None:
    arguments = ["model.l2=1e-4", "epochs=3", "model=tiny,cnn_bn", "optimizer.learning_rate=tag(log,interval(1e-4,3e-3))",
                 "model.dense_dropout=interval(0.2,0.6)", "+trainer.min_steps_per_epoch=range(10,40,10)",
                 "model.conv_dropout=range(0.0,0.3,0.1)"]
    with caplog.at_level(logging.INFO):
        space = search_space(PARAMS, arguments)
    assert space.fixed == ["model.l2=1e-4", "epochs=3"]
    assert "model.l2=1e-4 on the command line fixes a key hydra.sweeper.params searches" in caplog.text
    dist = optuna.distributions
    assert space.distributions == {
        "batch_size": dist.CategoricalDistribution([128, 256]),
        "model": dist.CategoricalDistribution(["tiny", "cnn_bn"]),
        "optimizer.learning_rate": dist.FloatDistribution(1e-4, 3e-3, log=True),
        "model.dense_dropout": dist.FloatDistribution(0.2, 0.6),
        "+trainer.min_steps_per_epoch": dist.IntDistribution(10, 30, step=10),  # stop excluded, as Hydra's range
        "model.conv_dropout": dist.FloatDistribution(0.0, 0.2, step=0.1),
    }


@pytest.mark.parametrize(("params", "arguments", "message"), [
    ({}, ["epochs=3"], "Nothing to search: hydra.sweeper.params is empty and the command line sweeps no key"),
    (PARAMS, ["model.l2=1e-4", "batch_size=128"], "Nothing to search"),
    (PARAMS, ["model=glob(*)"], "cannot sample `model=glob(*)`"),
    (PARAMS, ["model.filters=[32,64],[64,128]"], "cannot sample `model.filters=[32,64],[64,128]`"),
    ({"epochs": {"type": "integer", "low": 1, "high": 3}}, [], "Search parameter 'epochs' has type 'integer'"),
], ids=["empty", "all-fixed", "glob", "lists", "unknown-type"])
def test_a_search_space_optuna_cannot_sample_is_one_paragraph(params: dict, arguments: list[str], message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        search_space(params, arguments)
