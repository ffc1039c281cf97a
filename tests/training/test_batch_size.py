"""The batch a run trains with when its data is small, and what the log says about it."""

from __future__ import annotations

import logging

import pytest

from digit_experiments.training import experiment


@pytest.mark.parametrize(("images", "batch", "told"), [
    (1456, 72, "so that an epoch of 1456 images has at least 20 steps"),  # the embedded set
    (9, 1, "so that an epoch of 9 images has 9 steps, as near 20 as its images allow"),  # said "at least 20 steps"
])
def test_a_small_training_set_gets_a_smaller_batch_and_the_log_says_how_many_steps(
    images: int, batch: int, told: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"batch_size": 384, "trainer": {"min_steps_per_epoch": 20}}
    with caplog.at_level(logging.WARNING):
        assert experiment._batch_size(config, images, replicas=1) == batch
    assert f"Training with batch size {batch} instead of 384, {told} (trainer.min_steps_per_epoch=null keeps 384)." in caplog.text
