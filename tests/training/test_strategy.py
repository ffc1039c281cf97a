"""Choosing the distribution strategy (the training itself is tested in tests/test_resume.py)."""

from __future__ import annotations

import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.validation import validate
from digit_experiments.training.strategy import distribution_strategy, global_batch_size
from helpers import run_config


@pytest.mark.parametrize(("batch_size", "replicas", "expected"), [(64, 1, 64), (64, 2, 64), (27, 2, 26), (3, 4, 4)])
def test_the_global_batch_divides_between_the_replicas(batch_size: int, replicas: int, expected: int) -> None:
    assert global_batch_size(batch_size, replicas) == expected


def test_one_device_by_default_and_a_clear_error_for_an_unknown_strategy(tmp_path) -> None:
    assert distribution_strategy(None)[1] == "one device"
    with pytest.raises(ConfigError, match="trainer.strategy=mirrored"):
        distribution_strategy("multi_worker")
    with pytest.raises(ConfigError, match="null \\(one device\\) or mirrored"):
        validate(run_config(tmp_path, ["trainer.strategy=tpu"]))
