"""Optimizers, learning-rate schedules, label smoothing and the precision choice."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.validation import validate
from digit_experiments.model import build_model
from digit_experiments.training import trainer
from digit_experiments.training.losses import SmoothedSparseCrossentropy
from digit_experiments.training.optimizers import build_optimizer
from digit_experiments.training.precision import choose_precision
from digit_experiments.training.schedules import OneCycle

from helpers import compose_config


def _rate(schedule: keras.optimizers.schedules.LearningRateSchedule, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_one_cycle_rises_to_its_peak_then_anneals() -> None:
    schedule = OneCycle(3e-3, total_steps=1000, warmup_steps=200)
    assert _rate(schedule, 0) == pytest.approx(3e-3 / 25)
    assert _rate(schedule, 200) == pytest.approx(3e-3)
    assert _rate(schedule, 100) < _rate(schedule, 150) < _rate(schedule, 200) > _rate(schedule, 600) > _rate(schedule, 999)
    assert _rate(schedule, 1000) == pytest.approx(3e-3 / 1e4)


@pytest.mark.parametrize(
    ("schedule", "checks"),
    [
        ({"name": "exponential", "decay_per_epoch": 0.5}, {0: 1e-3, 9: 1e-3, 10: 5e-4, 25: 2.5e-4}),
        ({"name": "cosine", "warmup_epochs": 1}, {10: 1e-3, 50: 5e-4, 90: 0.0}),
        ({"name": "one_cycle", "warmup_fraction": 0.5}, {45: 1e-3}),
    ],
)
def test_schedules_follow_the_run_length(schedule: dict, checks: dict[int, float]) -> None:
    optimizer = build_optimizer({"name": "adam", "learning_rate": 1e-3, "schedule": schedule}, steps_per_epoch=10, epochs=9)
    for step, rate in checks.items():
        assert _rate(optimizer._learning_rate, step) == pytest.approx(rate, abs=2e-5), step


def test_a_schedule_with_reduce_lr_on_plateau_is_refused() -> None:
    with pytest.raises(ConfigError, match="reduce_lr_on_plateau"):
        validate(compose_config(["optimizer.schedule={name: one_cycle}", "paths.output_dir=/tmp/unused"]))
    with pytest.raises(ConfigError, match="schedule"):
        validate(compose_config(["optimizer.schedule={name: linear}", "callbacks.reduce_lr_on_plateau=null",
                                 "paths.output_dir=/tmp/unused"]))


def test_weight_decay_averaging_and_adamw_are_keras_options() -> None:
    adam = build_optimizer({"name": "adam", "learning_rate": 1e-3, "use_ema": True, "weight_decay": 1e-4}, 7, 3)
    assert adam.use_ema and adam.ema_overwrite_frequency == 7, "averaged weights are what each epoch validates"
    assert adam.weight_decay == pytest.approx(1e-4)
    config = validate(compose_config(["optimizer=adamw", "paths.output_dir=/tmp/unused"]))
    assert isinstance(build_optimizer(config["optimizer"], 10, 2), keras.optimizers.AdamW)


def test_scheduled_label_smoothed_model_trains_saves_and_loads(tmp_path: Path) -> None:
    trainer.configure_runtime(seed=0)
    images = np.random.default_rng(0).random((64, 28, 28, 1)).astype(np.float32)
    labels = np.arange(64) % 10
    optimizer = build_optimizer({"name": "adam", "learning_rate": 1e-3, "schedule": {"name": "one_cycle"}}, 4, 2)
    model = trainer.compile_model(build_model({"name": "tiny"}), optimizer, label_smoothing=0.1)
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(_rate(optimizer._learning_rate, 8))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_smoothed_loss_is_kerases_one_hot_loss() -> None:
    probabilities = keras.ops.softmax(keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(5, 10)).astype("float32")))
    labels = np.array([0, 3, 9, 2, 2])
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(keras.ops.one_hot(labels, 10), probabilities)
    got = SmoothedSparseCrossentropy(0.2)(labels, probabilities)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize(
    ("requested", "flags", "expected"),
    [
        ("auto", {"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ("auto", {"avx2", "amx_bf16"}, "mixed_bfloat16"),
        ("auto", {"avx2", "avx512f"}, "float32"),
        ("auto", set(), "float32"),
        ("float32", {"avx512_bf16"}, "float32"),
    ],
)
def test_auto_precision_uses_bfloat16_only_with_hardware_support(requested: str, flags: set, expected: str) -> None:
    policy, reason = choose_precision(requested, flags)
    assert policy == expected and reason
    assert policy != "mixed_float16"


def test_float16_asked_for_is_kept_and_its_cost_on_a_cpu_named() -> None:
    policy, reason = choose_precision("mixed_float16", {"avx2"})
    assert policy == "mixed_float16" and "5x slower" in reason
