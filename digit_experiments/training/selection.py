"""What "best" means in a run: one metric and one mode pick one epoch.

That epoch is the checkpoint kept, the weights early stopping restores, the
model that is tested and logged, and the value returned to sweepers and logged
as ``best_<metric>``. The top-level keys ``optimized_metric`` and
``optimized_mode`` say which; the selecting callbacks take their ``monitor``
and ``mode`` from them, and a config that sets them apart is refused.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from digit_experiments.core.errors import ConfigError

#: Callbacks that choose an epoch, and must therefore agree with ``optimized_metric``.
SELECTING_CALLBACKS = ("early_stopping", "model_checkpoint")
MODES = ("auto", "min", "max")


def resolve_mode(metric: str, mode: str = "auto") -> str:
    """``min`` or ``max``: ``auto`` means min for losses and errors, max for everything else."""
    if mode != "auto":
        return mode
    return "min" if metric.endswith(("loss", "error")) else "max"


def is_better(value: float, best: float, mode: str) -> bool:
    """Whether ``value`` strictly improves on ``best`` (ties keep the earlier epoch, as Keras does)."""
    return value < best if mode == "min" else value > best


def best_epoch(values: Sequence[float], mode: str) -> int:
    """The 0-based index of the first best value (NaNs never win)."""
    best = None
    for epoch, value in enumerate(values):
        if value == value and (best is None or is_better(value, values[best], mode)):
            best = epoch
    if best is None:
        raise ValueError("no finite value to select an epoch from")
    return best


def selected_epoch(history: Mapping[str, Sequence[float]], metric: str, mode: str, restores_best: bool) -> int:
    """The epoch whose weights a run tests and logs.

    Args:
        history: The run's per-epoch metrics.
        metric: ``optimized_metric``.
        mode: ``min`` or ``max``.
        restores_best: Whether a checkpoint or early stopping brings the best
            epoch's weights back; without either, the last epoch's weights are tested.

    Raises:
        KeyError: when the history has no such metric, naming the ones it has.
    """
    if metric not in history:
        raise KeyError(f"optimized_metric {metric!r} is not in the training history; it has {sorted(history)}")
    values = history[metric]
    return best_epoch(values, mode) if restores_best else len(values) - 1


def checked_mode(config: Mapping[str, Any]) -> str:
    """``min`` or ``max``: ``optimized_mode`` of ``config`` resolved for its ``optimized_metric``.

    Raises:
        ConfigError: when ``optimized_mode`` is not one of :data:`MODES`.
    """
    mode = config.get("optimized_mode", "auto")
    if mode not in MODES:
        raise ConfigError(f"Invalid value for `optimized_mode`: {mode!r}. It must be one of auto, min, max.")
    return resolve_mode(config["optimized_metric"], mode)


def apply_selection(config: dict[str, Any]) -> None:
    """Resolve ``optimized_mode`` and give the selecting callbacks the same monitor and mode.

    Raises:
        ConfigError: when a selecting callback monitors another metric or mode,
            or uses an option (``min_delta``, ``start_from_epoch``,
            ``initial_value_threshold``) that would make it pick another epoch.
    """
    metric = config["optimized_metric"]
    mode = checked_mode(config)
    config["optimized_mode"] = mode
    for name in SELECTING_CALLBACKS:
        options = (config.get("callbacks") or {}).get(name)
        if options is None:
            continue
        monitor = options.get("monitor", metric)
        callback_mode = resolve_mode(monitor, options.get("mode", "auto"))
        if monitor != metric or callback_mode != mode:
            raise ConfigError(
                f"`callbacks.{name}` selects epochs by {monitor} ({callback_mode}) but the run's best epoch is chosen by "
                f"`optimized_metric={metric}` ({mode}). One metric picks the checkpoint, the restored weights, the "
                f"tested model and the sweep value: set `optimized_metric={monitor}` (and `optimized_mode`) instead "
                f"of `callbacks.{name}.monitor`."
            )
        for option in ("min_delta", "start_from_epoch", "initial_value_threshold"):
            if options.get(option) and (name != "early_stopping" or options.get("restore_best_weights")):
                raise ConfigError(
                    f"`callbacks.{name}.{option}={options[option]}` would make {name} pick a different best epoch "
                    "than the checkpoint. Remove it, or set `callbacks.early_stopping.restore_best_weights=false` "
                    "so that early stopping only decides when to stop."
                )
        options["monitor"], options["mode"] = metric, mode


def reads_validation(metric: str) -> bool:
    """Whether an epoch log key is measured on the validation set (Keras prefixes those with ``val_``)."""
    return metric.startswith("val_")


def check_refit(config: Mapping[str, Any]) -> None:
    """Refuse a refit (``dataset.val_fraction=0``) that would read validation metrics or choose an epoch.

    A refit trains on the whole pool, validation images included, for a length
    fixed in advance, and keeps its last epoch: there is no validation loss to
    select by, to stop early on or to lower the rate on plateau.

    Raises:
        ConfigError: naming every setting that needs a validation set, and the fix.
    """
    if config["dataset"].get("val_fraction") != 0:
        return
    metric = config["optimized_metric"]
    needs_validation = [f"`optimized_metric={metric}`"] if reads_validation(metric) else []
    for name, options in (config.get("callbacks") or {}).items():
        # Keras's monitoring callbacks watch val_loss unless told otherwise.
        if options is not None and (name in SELECTING_CALLBACKS or reads_validation(str(options.get("monitor", "val_loss")))):
            needs_validation.append(f"`callbacks.{name}`")
    if needs_validation:
        raise ConfigError(
            f"`dataset.val_fraction=0` (a refit: every pool image is trained on, and the last epoch is kept) leaves no "
            f"validation set, but {', '.join(needs_validation)} would select an epoch or read validation metrics. "
            "Refit a recipe whose schedule is fixed in advance with `refit=all_data` (e.g. `experiment=fast_ema "
            "refit=all_data`), or switch these callbacks off (`callbacks.<name>=null`), set `optimized_metric=loss` "
            "and set `epochs` to the `best_epoch` of a validated run of the same recipe."
        )


def restores_best(callbacks: Mapping[str, Any] | None) -> bool:
    """Whether the configured callbacks bring the best epoch's weights back after training."""
    callbacks = callbacks or {}
    early_stopping = callbacks.get("early_stopping") or {}
    return callbacks.get("model_checkpoint") is not None or bool(early_stopping.get("restore_best_weights"))
