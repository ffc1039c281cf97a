"""Config composition and validation through Hydra's compose API."""

from __future__ import annotations

import pytest

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.validation import validate

from helpers import CONF_DIR, compose_config

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("hydra", "ensemble_member", "refit"))


def group_options() -> list[tuple[str, str]]:
    return [(group, yaml.stem) for group in GROUPS for yaml in sorted((CONF_DIR / group).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_group_option_composes_and_validates(group: str, option: str) -> None:
    cfg = compose_config([f"{group}={option}", "paths.output_dir=/tmp/unused"])
    config = validate(cfg)
    assert config["batch_size"] >= 1


@pytest.mark.parametrize("member", sorted(p.stem for p in (CONF_DIR / "ensemble_member").glob("*.yaml")))
def test_every_ensemble_member_composes_on_the_ensemble_recipe(member: str) -> None:
    config = validate(compose_config(["experiment=ensemble", f"ensemble_member={member}", "paths.output_dir=/tmp/unused"]))
    assert config["dataset"]["split_seed"] == 42, "members are ranked on one validation set"
    assert config["optimizer"]["use_ema"] is True and config["epochs"] == 20, "a member varies fast_ema, not its training"


def test_ensemble_members_override_the_recipe_they_sit_on() -> None:
    plain = compose_config(["experiment=ensemble"])
    elastic = compose_config(["experiment=ensemble", "ensemble_member=elastic"])
    assert (plain.model.deskew, plain.augment.albumentations.mode) == (True, "off")
    assert (elastic.model.deskew, elastic.augment.albumentations.mode) == (False, "realtime")
    kernel5 = compose_config(["experiment=ensemble", "ensemble_member=kernel5"])
    assert (kernel5.model.kernel_size, kernel5.augment.albumentations.mode) == (5, "off"), "as measured, on fast_ema v1"


def test_fast_ema_version_2_warps_every_batch_and_the_ensemble_keeps_version_1s_member() -> None:
    fast_ema, ensemble = compose_config(["experiment=fast_ema"]), compose_config(["experiment=ensemble"])
    assert fast_ema.augment.albumentations.mode == "realtime" and "elastic_transform" in fast_ema.augment.albumentations.transforms
    assert ensemble.augment == compose_config(["augment=geometric"]).augment and ensemble.model.deskew is True


def test_design_card_overrides_reach_the_config() -> None:
    cfg = compose_config(["model=cnn_bn", "batch_size=384", "epochs=3", "seed=7"])
    assert (cfg.batch_size, cfg.epochs, cfg.seed, cfg.model.name) == (384, 3, 7, "cnn_bn")


def test_smoke_only_shrinks_the_work_and_composes_with_other_choices() -> None:
    cfg = compose_config(["experiment=smoke", "model=tiny", "augment=none", "batch_size=32"])
    assert cfg.model.name == "tiny"
    assert cfg.augment.albumentations.mode == "off"
    assert cfg.batch_size == 32
    assert cfg.epochs <= 5
    assert cfg.dataset.max_train_images <= 1000


def test_debug_smoke_shrinks_any_recipe_and_keeps_the_rest() -> None:
    cfg = compose_config(["experiment=seed_mix", "debug=smoke"])
    assert (cfg.epochs, cfg.dataset.max_train_images) == (5, 1000)
    assert set(cfg.dataset.sources) == {"mnist", "emnist_digits", "usps", "not_mnist"}
    assert cfg.tracking.run_name == "seed_mix" and cfg.model.name == "cnn_bn"
    alias = compose_config(["experiment=smoke"])
    assert (alias.epochs, alias.batch_size, alias.dataset.max_train_images) == (5, 64, 1000)


def test_every_dataset_option_shares_the_split_keys() -> None:
    for option in sorted((CONF_DIR / "dataset").glob("*.yaml")):
        dataset = compose_config([f"dataset={option.stem}"]).dataset
        assert (dataset.val_fraction, dataset.max_train_images) == (0.1, None), option.stem
    assert compose_config(["dataset=usps", "dataset.val_fraction=0.2"]).dataset.val_fraction == 0.2


def test_seed_experiment_is_the_seed_recipe() -> None:
    cfg = compose_config(["experiment=seed"])
    assert cfg.model.name == "cnn_bn" and cfg.batch_size == 384
    assert cfg.optimizer.name == "adam" and cfg.optimizer.learning_rate == pytest.approx(1e-3)
    assert cfg.optimizer.clipnorm is not None
    assert set(cfg.callbacks) == {"early_stopping", "model_checkpoint", "reduce_lr_on_plateau"}
    assert cfg.dataset.val_fraction == pytest.approx(0.1)
    transforms = set(cfg.augment.albumentations.transforms)
    assert transforms == {"elastic_transform", "gauss_noise", "coarse_dropout", "random_brightness_contrast", "invert"}
    assert all(cfg.augment.geometric[key] > 0 for key in ("rotation_degrees", "width_shift", "height_shift", "zoom"))


def test_robust_recipe_holds_usps_out_and_trains_like_fast_ema_on_the_writer_styles() -> None:
    config = validate(compose_config(["experiment=robust", "paths.output_dir=/tmp/unused"]))
    fast_ema = compose_config(["experiment=fast_ema"])
    assert config["dataset"]["sources"]["usps"]["test_only"] is True and "not_mnist" not in config["dataset"]["sources"]
    assert config["dataset"]["sources"]["emnist_digits"]["required"] is False
    for key in ("epochs", "batch_size"):
        assert config[key] == fast_ema[key]
    assert config["optimizer"]["schedule"]["name"] == "one_cycle" and config["optimizer"]["use_ema"] is True
    assert config["model"]["deskew"] is True
    assert config["augment"]["albumentations"]["mode"] == "realtime"
    styles = config["augment"]["styles"]
    assert list(styles) == ["european_ones", "curled_nines", "box_filled"], "flagged 1s and curled 9s are rescanned too"
    assert all(options["p"] > 0 for options in styles.values())
    assert "width_stretch" not in config["augment"]["geometric"], "version 3 dropped the stretch that cost unseen USPS"


def test_robust_ensemble_sweeps_five_seeds_of_the_robust_recipe_on_one_validation_set() -> None:
    robust = compose_config(["experiment=robust"])
    ensemble = compose_config(["experiment=robust_ensemble"], return_hydra_config=True)
    assert ensemble.hydra.sweeper.params.seed == "1,2,3,4,5"
    assert ensemble.dataset.split_seed == 42
    for group in ("model", "augment", "optimizer", "trainer"):
        assert ensemble[group] == robust[group]


def test_robust_augment_set_widens_the_geometry_and_keeps_its_transforms_in_order() -> None:
    augment = compose_config(["augment=robust"]).augment
    transforms = list(augment.albumentations.transforms)
    assert transforms.index("thicken_strokes") < transforms.index("elastic_transform") < transforms.index("gauss_noise"), (
        "stroke width changes the clean digit; noise comes last"
    )
    assert augment.geometric.width_stretch > 0 and augment.geometric.shear > 0


def test_elastic_ink_adds_the_ink_transforms_to_the_elastic_set_and_no_geometry() -> None:
    elastic, ink = (compose_config([f"augment={name}"]).augment for name in ("elastic", "elastic_ink"))
    assert ink.albumentations.mode == "realtime" and ink.geometric == elastic.geometric
    assert set(elastic.albumentations.transforms) < set(ink.albumentations.transforms)
    added = set(ink.albumentations.transforms) - set(elastic.albumentations.transforms)
    assert {"thin_strokes", "gaussian_blur", "random_brightness_contrast", "gauss_noise", "invert"} <= added
    assert "width_stretch" not in ink.geometric and "styles" not in ink, "robust's geometric and style levers stay apart"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.conv_dropout=1.5", "model.conv_dropout"),
        ("model.dense_dropout=-0.1", "model.dense_dropout"),
        ("optimizer.learning_rate=-0.001", "optimizer.learning_rate"),
        ("batch_size=0", "batch_size"),
        ("model.l2=-1", "model.l2"),
        ("augment.albumentations.transforms.gauss_noise.p=2", "augment.albumentations.transforms.gauss_noise.p"),
        ("trainer.precision=float8", "trainer.precision"),
        ("augment.albumentations.mode=sometimes", "augment.albumentations.mode"),
        ("model.bn_momentum=1.0", "model.bn_momentum"),
        ("+augment.geometric.width_stretch=-0.2", "augment.geometric.width_stretch"),
        ("tracking.register_as='has space'", "tracking.register_as"),
        ("optimized_metric=val_acc", "optimized_metric"),  # else found missing from the history after training
        ("model.deskew=no", "model.deskew"),  # a non-empty string would read as true
        ("+dataset.sources.mnist.cap=abc", "dataset.sources.mnist.cap"),
        ("optimizer.schedule={name: cosine, warmup_epochs: abc}", "optimizer.schedule.warmup_epochs"),
        ("dataset.split_seed=abc", "dataset.split_seed"),
    ],
)
def test_invalid_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"`{key}`"):
        validate(compose_config([override, "paths.output_dir=/tmp/unused"]))


@pytest.mark.parametrize(
    ("override", "valid"),
    [
        ("model.name=resnet", "cnn_bn, tiny"),
        ("optimizer.name=rmsprop", "adam, adamw, sgd"),
        ("+callbacks.tensorboard={}", "early_stopping"),
        ("+augment.albumentations.transforms.blur={p: 0.5}", "elastic_transform"),
        ("+dataset.sources.nope={}", "mnist"),
    ],
)
def test_unknown_registry_names_list_the_valid_ones(override: str, valid: str) -> None:
    with pytest.raises(ConfigError, match="Valid") as raised:
        validate(compose_config([override, "paths.output_dir=/tmp/unused"]))
    assert valid in str(raised.value)


def test_unknown_option_of_a_registered_builder_is_rejected() -> None:
    with pytest.raises(ConfigError, match="does not take the option.*dropuot"):
        validate(compose_config(["+model.dropuot=0.3", "paths.output_dir=/tmp/unused"]))


@pytest.mark.parametrize(
    ("override", "named", "valid"),
    [
        ("+epoch=3", "`epoch`", "epochs"),  # what Hydra suggests for a misspelt `epoch=3`
        ("+trainer.thread=1", "`trainer.thread`", "threads"),
        ("+dataset.val_frac=0.2", "`dataset.val_frac`", "val_fraction"),
        ("+tracking.experiment=x", "`tracking.experiment`", "experiment_name"),
        ("+pipeline.prefetch_size=2", "`pipeline.prefetch_size`", "prefetch"),
    ],
)
def test_an_added_key_that_nothing_reads_is_refused_with_the_real_ones(override: str, named: str, valid: str) -> None:
    with pytest.raises(ConfigError, match="Unknown config key") as raised:
        validate(compose_config([override, "paths.output_dir=/tmp/unused"]))
    assert named in str(raised.value) and valid in str(raised.value)


@pytest.mark.parametrize(
    ("override", "misspelt"),
    [("+optimizer.amsgrd=true", "amsgrd"), ("+callbacks.reduce_lr_on_plateau.factr=0.5", "factr")],
)
def test_a_misspelt_keras_option_is_refused_although_the_class_takes_kwargs(override: str, misspelt: str) -> None:
    """Keras's optimizers and ReduceLROnPlateau take ``**kwargs``: refused mid-run, or ignored, without this check."""
    with pytest.raises(ConfigError, match=f"does not take the option.*{misspelt}"):
        validate(compose_config([override, "paths.output_dir=/tmp/unused"]))


@pytest.mark.parametrize("schedule", ["one_cycle", "{warmup_fraction: 0.2}"])
def test_a_schedule_without_a_name_is_refused_with_how_to_write_one(schedule: str) -> None:
    overrides = [f"optimizer.schedule={schedule}", "callbacks.reduce_lr_on_plateau=null", "paths.output_dir=/tmp/unused"]
    with pytest.raises(ConfigError, match="a mapping with a `name`.*one_cycle"):
        validate(compose_config(overrides))


def test_added_keys_that_are_read_still_pass() -> None:
    overrides = ["+optimizer.amsgrad=true", "+optuna.trial_number=3", "paths.output_dir=/tmp/unused"]
    config = validate(compose_config(overrides))
    assert config["optimizer"]["amsgrad"] is True and config["optuna"]["trial_number"] == 3


def test_one_metric_and_mode_drive_every_epoch_choice() -> None:
    config = validate(compose_config(["optimized_metric=val_accuracy", "paths.output_dir=/tmp/unused"]))
    assert config["optimized_mode"] == "max"
    for name in ("early_stopping", "model_checkpoint"):
        assert (config["callbacks"][name]["monitor"], config["callbacks"][name]["mode"]) == ("val_accuracy", "max")
    assert validate(compose_config(["paths.output_dir=/tmp/unused"]))["optimized_mode"] == "min", "val_loss by default"


@pytest.mark.parametrize(
    "override",
    [
        "callbacks.model_checkpoint.monitor=val_accuracy",
        "callbacks.early_stopping.mode=max",
        "+callbacks.early_stopping.start_from_epoch=3",
        "+callbacks.early_stopping.min_delta=0.01",
    ],
)
def test_a_callback_that_would_pick_another_best_epoch_is_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="optimized_metric|pick a different best epoch"):
        validate(compose_config([override, "paths.output_dir=/tmp/unused"]))


def test_every_keras_callback_option_is_reachable() -> None:
    overrides = [
        "+callbacks.reduce_lr_on_plateau.cooldown=1", "+callbacks.early_stopping.baseline=0.5",
        "+callbacks.early_stopping.start_from_epoch=2", "callbacks.early_stopping.restore_best_weights=false",
        "callbacks.early_stopping.verbose=0", "+callbacks.model_checkpoint.verbose=1",
    ]
    config = validate(compose_config([*overrides, "paths.output_dir=/tmp/unused"]))
    assert config["callbacks"]["early_stopping"]["start_from_epoch"] == 2
