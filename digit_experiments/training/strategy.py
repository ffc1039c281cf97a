"""Where a run's model trains: one device, or every accelerator of the machine at once.

``trainer.strategy: mirrored`` builds and compiles the model under
:class:`tf.distribute.MirroredStrategy`: one replica per GPU, each step's
batch split between them and the gradients summed, so ``batch_size`` is the
global batch (each of N devices sees ``batch_size / N`` images a step).
Without GPUs the replicas are the CPU's logical devices, which
``trainer.cpu_devices`` creates: that is how the strategy is tested on
machines without accelerators, and it is no faster there.

Multi-worker training (``MultiWorkerMirroredStrategy``) is not offered: it
does not work with Keras 3 (keras-team/keras#20585, tensorflow/tensorflow#72388).
Several machines share a sweep instead, one trial per machine.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from digit_experiments.core.errors import ConfigError

log = logging.getLogger(__name__)

STRATEGIES = (None, "mirrored")


def split_cpu(devices: int | None) -> None:
    """Split the CPU into ``devices`` logical devices (replicas for a strategy on a machine without GPUs).

    Must run before TensorFlow starts; a process that already started keeps
    its devices (a later job of an in-process sweep), with a warning when
    they differ.
    """
    if not devices or devices < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    except RuntimeError:
        present = len(tf.config.list_logical_devices("CPU"))
        if present != devices:
            log.warning("TensorFlow already started with %d CPU device(s); trainer.cpu_devices=%d not applied.", present, devices)


def distribution_strategy(name: str | None) -> tuple[tf.distribute.Strategy, str]:
    """The strategy ``trainer.strategy`` names, and a sentence saying what it runs on (tagged on the run).

    Raises:
        ConfigError: for a name other than null or ``mirrored``.
    """
    if name is None:
        return tf.distribute.get_strategy(), "one device"
    if name not in STRATEGIES:
        raise ConfigError(
            f"Unknown trainer.strategy {name!r}. Use trainer.strategy=mirrored (every GPU of this machine, or the "
            "CPU devices of trainer.cpu_devices) or trainer.strategy=null (one device)."
        )
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        log.warning(
            "trainer.strategy=mirrored found one device only; it trains as one replica. "
            "Without GPUs, trainer.cpu_devices=N makes N CPU replicas (for testing: no faster)."
        )
    strategy = tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    return strategy, f"mirrored over {strategy.num_replicas_in_sync} device(s): {', '.join(d.name for d in devices)}"


def global_batch_size(batch_size: int, replicas: int) -> int:
    """``batch_size`` rounded down to a multiple of the replicas (at least one image each).

    MirroredStrategy splits every batch between its replicas; a batch that
    does not divide evenly (27 images over 2 devices) failed inside the step
    with "Inputs to operation AddN ... must have the same size and shape".
    """
    if replicas < 2 or batch_size % replicas == 0:
        return batch_size
    rounded = max(replicas, batch_size // replicas * replicas)
    log.warning("Training with batch size %d instead of %d: a multiple of the %d replicas.", rounded, batch_size, replicas)
    return rounded
