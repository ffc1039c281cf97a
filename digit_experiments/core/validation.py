"""Check a composed run config before any work starts.

Three kinds of checks, all reported as a :class:`ConfigError` naming the key:

* keys that no config file declares, where no registry would notice them
  (:func:`check_known_keys`);
* value rules (a dropout of 1.5, a negative learning rate, a batch size of 0),
  declared once in :data:`RULES` against dotted key patterns;
* registry names and options (``model.name``, callback and augmentation
  names, dataset sources), checked against the registries.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from omegaconf import DictConfig, OmegaConf

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.startup import CONFIG_DIR
from digit_experiments.training.selection import apply_selection, check_refit

Check = Callable[[Any], bool]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


POSITIVE_INT: Check = lambda v: _integer(v) and v >= 1
NON_NEGATIVE_INT: Check = lambda v: _integer(v) and v >= 0
POSITIVE: Check = lambda v: _number(v) and v > 0
NON_NEGATIVE: Check = lambda v: _number(v) and v >= 0
RATE: Check = lambda v: _number(v) and 0 <= v < 1
PROBABILITY: Check = lambda v: _number(v) and 0 <= v <= 1
FRACTION: Check = lambda v: _number(v) and 0 < v < 1
BOOLEAN: Check = lambda v: isinstance(v, bool)
#: What every epoch of a training logs, so what ``optimized_metric`` can select on.
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _ordered_pair(low: float, high: float) -> Check:
    """A ``[a, b]`` range with ``low <= a <= b <= high``."""
    return lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number, v)) and low <= v[0] <= v[1] <= high


def _keys(check: Check, valid: str, *patterns: str) -> list[tuple[str, Check, str]]:
    """One rule per key pattern, all with the same check and description."""
    return [(pattern, check, valid) for pattern in patterns]


#: (dotted key pattern, check, what a valid value is). Patterns use fnmatch syntax.
RULES: list[tuple[str, Check, str]] = [
    *_keys(POSITIVE_INT, "an integer >= 1", "batch_size", "epochs", "model.dense_units", "pipeline.parallel_calls"),
    *_keys(NON_NEGATIVE_INT, "an integer >= 0", "seed", "pipeline.prefetch", "callbacks.*.patience"),
    *_keys(_optional(NON_NEGATIVE_INT), "null or an integer >= 0", "dataset.split_seed"),
    # The options of evaluate, predict and demo (core.startup.run_command checks them too).
    *_keys(POSITIVE_INT, "an integer >= 1", "top", "max_image_pixels", "dataset.sources.*.max_image_pixels"),
    *_keys(BOOLEAN, "true or false", "tta", "log", "model.deskew", "optimizer.use_ema", "tracking.log_model",
           "dataset.sources.*.required"),
    ("port", lambda v: _integer(v) and 0 <= v <= 65535, "a port number from 0 to 65535 (0 picks a free one)"),
    ("optimized_metric", lambda v: v in EPOCH_METRICS,
     f"one of {', '.join(EPOCH_METRICS)}: what every epoch logs"),
    *_keys(_optional(POSITIVE_INT), "null or an integer >= 1",
           "dataset.max_train_images", "dataset.max_test_images_per_source", "dataset.sources.*.cap",
           "trainer.min_steps_per_epoch",
           "trainer.cpu_devices"),
    *_keys(_optional(NON_NEGATIVE_INT), "null or an integer >= 0 (0 = TensorFlow's default)", "trainer.threads"),
    *_keys(POSITIVE, "a number > 0", "optimizer.learning_rate"),
    *_keys(_optional(POSITIVE), "null or a number > 0", "optimizer.clipnorm", "optimizer.clipvalue"),
    *_keys(NON_NEGATIVE, "a number >= 0", "model.l2", "augment.geometric.*", "optimizer.schedule.warmup_epochs"),
    *_keys(_optional(NON_NEGATIVE), "null or a number >= 0", "optimizer.weight_decay"),
    *_keys(RATE, "a rate in [0, 1)",
           "model.*dropout", "*momentum", "optimizer.schedule.warmup_fraction", "trainer.label_smoothing"),
    *_keys(FRACTION, "a fraction in (0, 1)", "optimizer.schedule.decay_per_epoch", "callbacks.*.factor"),
    *_keys(RATE, "a fraction in [0, 1) (0 keeps no validation set: a refit, see `refit=all_data`)", "dataset.val_fraction"),
    *_keys(PROBABILITY, "a probability in [0, 1]", "augment.albumentations.p_augmented", "augment.albumentations.transforms.*.p"),
    ("model.filters", lambda v: _integer(v) and v >= 1 or isinstance(v, list) and all(POSITIVE_INT(f) for f in v),
     "positive integer(s)"),
    ("augment.styles.european_ones.flag_length", _ordered_pair(0, 1),
     "[low, high] with 0 <= low <= high <= 1: shares of the digit's height, e.g. [0.25, 0.5]"),
    ("augment.styles.european_ones.flag_angle", _ordered_pair(0, 90),
     "[low, high] with 0 <= low <= high <= 90: degrees below the horizontal, e.g. [25, 55]"),
    ("augment.styles.curled_nines.curl_size", lambda v: _ordered_pair(0, 1)(v) and v[0] > 0,
     "[low, high] with 0 < low <= high <= 1: shares of the digit's height, e.g. [0.18, 0.3]"),
    ("augment.styles.curled_nines.curl_turn", _ordered_pair(0, 270),
     "[low, high] with 0 <= low <= high <= 270: degrees the tail turns from straight down, e.g. [150, 210]"),
    ("augment.styles.box_filled.aspect", lambda v: _ordered_pair(0, 10)(v) and v[0] > 0,
     "[low, high] with 0 < low <= high: the frame's width over its height, e.g. [0.75, 1.0]"),
    ("augment.styles.box_filled.side", lambda v: _ordered_pair(4, 256)(v) and all(map(_integer, v)),
     "[low, high] whole pixels with 4 <= low <= high <= 256: the frame's height, e.g. [16, 28]"),
    *_keys(PROBABILITY, "a probability in [0, 1]", "augment.styles.*.p", "augment.styles.*.foot_p", "augment.styles.*.binary_p"),
    ("trainer.precision", lambda v: v in ("auto", "float32", "mixed_bfloat16", "mixed_float16"),
     "one of auto, float32, mixed_bfloat16, mixed_float16"),
    ("trainer.strategy", lambda v: v in (None, "mirrored"), "null (one device) or mirrored"),
]


def flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted.key, value)`` for every leaf of a nested mapping (lists are leaves)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


#: Config groups read key by key, with no registry to check their options: each key must be
#: declared by one of the group's files in conf/.
PLAIN_GROUPS = ("dataset", "trainer", "pipeline", "tracking", "paths")
#: Top-level keys that no file in conf/ declares: the Optuna sweeper adds its trial as ``+optuna.*``.
SWEEPER_KEYS = frozenset({"optuna"})


@cache
def root_groups(command: str) -> dict[str, str | None]:
    """The config groups ``conf/<command>.yaml``'s defaults list names, in order, with their default option.

    ``override`` entries (``override hydra/job_logging: stderr``) change another
    group's option and are left out; ``hydra`` is in.
    """
    config = OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / f"{command}.yaml"))
    entries = [entry for entry in config.get("defaults", []) if isinstance(entry, dict)]
    return {key: choice for entry in entries for key, choice in entry.items() if not key.startswith("override ")}


@cache
def declared_keys(group: str | None, command: str = "train") -> frozenset[str]:
    """The keys the files of a config group declare; for None, the keys and groups of ``command``'s root config."""
    root = Path(CONFIG_DIR)
    if group is None:
        config = OmegaConf.to_container(OmegaConf.load(root / f"{command}.yaml"))
        groups = {key for key, choice in root_groups(command).items() if choice}
        return frozenset((set(config) | groups | SWEEPER_KEYS) - {"defaults", "hydra"})
    files = sorted((root / group).rglob("*.yaml"))
    return frozenset(set().union(*(OmegaConf.load(file).keys() for file in files)) - {"defaults"})


def check_known_keys(config: Mapping[str, Any], command: str = "train") -> None:
    """Refuse a top-level or plain-group key that no file in conf/ declares, since nothing would read it.

    Hydra refuses a misspelt override (``epoch=3``) but suggests adding it
    (``+epoch=3``), which it then accepts: the command would ignore the key
    (and run with the real one's value), or pass it on and fail later. Models,
    optimizers, callbacks, augmentations and dataset sources are checked by
    their registries; this checks the rest.

    Args:
        config: The resolved config.
        command: Whose root config (``conf/<command>.yaml``) declares the top-level keys.
    """
    for group in (None, *PLAIN_GROUPS):
        keys = config if group is None else config.get(group) or {}
        unknown = sorted(set(keys) - declared_keys(group, command))
        if unknown:
            where = "top-level" if group is None else f"`{group}`"
            names = ", ".join(f"`{key if group is None else f'{group}.{key}'}`" for key in unknown)
            raise ConfigError(
                f"Unknown config key {names}: no file in conf/ declares it, so nothing would read it. "
                f"The {where} keys are: {', '.join(sorted(declared_keys(group, command) - SWEEPER_KEYS))}. "
                "Fix the spelling and set it without `+` (Hydra's `+key=value` adds a key nothing reads), "
                "or remove it."
            )


def check_required(config: DictConfig) -> None:
    """Refuse a command whose required options (``???`` in its config, e.g. ``model_uri``) were left out."""
    missing = sorted(OmegaConf.missing_keys(config))
    if missing:
        was = "was" if len(missing) == 1 else "were"
        raise ConfigError(
            f"The command needs {', '.join(f'`{key}`' for key in missing)}, which {was} "
            f"not given. Add {' '.join(f'`{key}=...`' for key in missing)} to the command line "
            "(README gives an example of each command)."
        )


def check_values(config: Mapping[str, Any]) -> None:
    """Apply :data:`RULES` to every matching key; raise on the first invalid value."""
    for key, value in flatten(config):
        for pattern, check, valid in RULES:
            if fnmatch.fnmatchcase(key, pattern) and not check(value):
                raise ConfigError(
                    f"Invalid value for `{key}`: {value!r}. It must be {valid}. "
                    f"Fix it in the config or on the command line, e.g. `{key}=...`."
                )


def check_names(config: Mapping[str, Any]) -> None:
    """Check every registry name and option in the config against its registry."""
    from digit_experiments.augment.albumentations_set import MODES, check_transforms
    from digit_experiments.augment.styles import check_styles
    from digit_experiments.training.callbacks import check_callbacks
    from digit_experiments.dataset.load import check_sources
    from digit_experiments.model import MODELS
    from digit_experiments.training.optimizers import check_optimizer
    from digit_experiments.tracking.registry import check_name

    options = dict(config["model"])
    MODELS.check_arguments(options.pop("name"), options)
    check_optimizer(config["optimizer"])
    check_schedule_alone(config)
    check_callbacks(config.get("callbacks"))
    albumentations = config["augment"].get("albumentations") or {}
    if albumentations.get("mode", "off") not in MODES:
        raise ConfigError(
            f"Invalid value for `augment.albumentations.mode`: {albumentations['mode']!r}. It must be one of "
            f"{', '.join(MODES)}. Fix it in the config or on the command line, e.g. `augment.albumentations.mode=static`."
        )
    check_transforms(albumentations.get("transforms") or {})
    check_styles(config["augment"].get("styles") or {}, albumentations.get("mode", "off"))
    check_sources(config["dataset"]["sources"])
    if config["tracking"].get("register_as") is not None:
        check_name(config["tracking"]["register_as"], "tracking.register_as")
        if not config["tracking"]["log_model"]:
            raise ConfigError(
                "`tracking.register_as` registers the logged model, but `tracking.log_model` is false. "
                "Set `tracking.log_model=true`, or drop `tracking.register_as`."
            )


def check_schedule_alone(config: Mapping[str, Any]) -> None:
    """Refuse a learning-rate schedule together with ReduceLROnPlateau: both would set the rate."""
    if (config["optimizer"].get("schedule") or None) and (config.get("callbacks") or {}).get("reduce_lr_on_plateau"):
        raise ConfigError(
            f"`optimizer.schedule` ({config['optimizer']['schedule'].get('name')}) and "
            "`callbacks.reduce_lr_on_plateau` both set the learning rate. Keep one: add "
            "`callbacks.reduce_lr_on_plateau=null`, or `optimizer.schedule=null`."
        )


def validate(config: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Resolve and check a run config; return it as a plain dict.

    Raises:
        ConfigError: naming the first invalid key and what a valid value is.
    """
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    check_known_keys(config)
    check_values(config)
    check_names(config)
    apply_selection(config)
    check_refit(config)
    return dict(config)
