"""tf.data input pipelines: shuffled, augmented training batches and plain evaluation batches.

Images stay in memory as uint8 tensors; the pipeline shuffles *indices* and
gathers whole batches, so every per-batch step (choosing the static augmented
copy, scaling to [0, 1], the random affine transform) is one vectorised op.
Randomness comes from per-batch stateless seeds drawn from ``Dataset.random``,
so a given seed always yields the same batches, epoch after epoch.

tf.data's autotuner is switched off: on 2-core machines it was seen to block
for 20+ seconds when an epoch's iterator is torn down. Parallelism and
prefetch depth are fixed by the ``pipeline`` config instead.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Mapping

import albumentations as A
import numpy as np
import tensorflow as tf

from digit_experiments.augment.albumentations_set import apply_compose, build_compose
from digit_experiments.augment.geometric import random_affine
from digit_experiments.augment.styles import apply_styles


def _options(parallel_calls: int) -> tf.data.Options:
    """Deterministic options with autotuning off (see the module docstring)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    options.threading.private_threadpool_size = max(1, parallel_calls)
    return options


def _to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 ``(B, 28, 28)`` → float32 ``(B, 28, 28, 1)`` in [0, 1]."""
    return tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0


def training_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    augment: Mapping[str, Any],
    augmented_copy: np.ndarray | None = None,
    parallel_calls: int = 2,
    prefetch: int = 2,
) -> tf.data.Dataset:
    """Shuffled, augmented training batches, reshuffled every epoch.

    Args:
        images: ``(N, 28, 28)`` uint8 training images.
        labels: ``(N,)`` integer labels.
        batch_size: Images per batch (the last batch may be smaller).
        seed: Seed of the shuffle and of every random augmentation.
        augment: The ``augment`` config (``albumentations``, ``styles`` and ``geometric`` parts). In
            realtime mode the styles and then the transforms run on every batch afresh.
        augmented_copy: The static Albumentations copy of ``images`` (static mode).
        parallel_calls: Batches prepared in parallel.
        prefetch: Batches prepared ahead of the model.

    Returns:
        A dataset of ``(float32 (B, 28, 28, 1) in [0, 1], int64 (B,))`` pairs.
    """
    albumentations = augment.get("albumentations") or {}
    geometric = {k: float(v) for k, v in (augment.get("geometric") or {}).items()}
    image_table = tf.constant(images)
    label_table = tf.constant(labels, dtype=tf.int64)
    copy_table = tf.constant(augmented_copy) if augmented_copy is not None else None
    p_augmented = float(albumentations.get("p_augmented", 0.5))
    realtime = _RealtimeAugmentation.from_config(augment, seed)

    def make_batch(indices: tf.Tensor, batch_seeds: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        seeds = tf.random.experimental.stateless_split(tf.cast(batch_seeds, tf.int64), num=2)
        batch, batch_labels = tf.gather(image_table, indices), tf.gather(label_table, indices)
        if copy_table is not None:
            use_copy = tf.random.stateless_uniform(tf.shape(indices), seed=seeds[0]) < p_augmented
            batch = tf.where(use_copy[:, None, None], tf.gather(copy_table, indices), batch)
        if realtime is not None:
            batch = realtime(batch, batch_labels, batch_seeds)
        batch = _to_float(batch)
        if any(geometric.values()):
            batch = random_affine(batch, seeds[1], **geometric)
        return batch, batch_labels

    count = len(labels)
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(indices.batch(batch_size), batch_seeds)
    dataset = dataset.map(make_batch, num_parallel_calls=parallel_calls, deterministic=True)
    return dataset.prefetch(prefetch).with_options(_options(parallel_calls))


class _RealtimeAugmentation:
    """The realtime mode's styles and Albumentations transforms, run afresh on every training batch.

    They are NumPy and OpenCV code, so they run through ``tf.numpy_function`` in tf.data's
    threads, ``parallel_calls`` batches at once. Each batch reseeds the transforms it uses, so
    each thread keeps its own copy of them: were the threads to share one, a batch could draw
    from another's seed, and two runs of one seed would train on different images.

    Args:
        transforms: The ``albumentations.transforms`` config (may be empty).
        styles: The ``styles`` config (may be empty).
        seed: Seed the transforms are built with; every batch reseeds them from its own seed.
    """

    def __init__(self, transforms: Mapping[str, Any], styles: Mapping[str, Any], seed: int) -> None:
        self._styles = styles
        self._compose = build_compose(transforms, seed) if transforms else None
        self._per_thread = threading.local()

    @classmethod
    def from_config(cls, augment: Mapping[str, Any], seed: int) -> _RealtimeAugmentation | None:
        """The realtime augmentation ``augment`` asks for, or None when it asks for none."""
        albumentations = augment.get("albumentations") or {}
        if albumentations.get("mode") != "realtime":
            return None
        transforms = albumentations.get("transforms") or {}
        styles = dict(augment.get("styles") or {})
        return cls(transforms, styles, seed) if transforms or styles else None

    def __call__(self, batch: tf.Tensor, batch_labels: tf.Tensor, batch_seeds: tf.Tensor) -> tf.Tensor:
        """Augment one uint8 batch, seeded by the first of its two ``batch_seeds``."""
        out = tf.numpy_function(self._augment, [batch, batch_labels, batch_seeds[0]], tf.uint8, stateful=False)
        return tf.ensure_shape(out, batch.shape)

    def _augment(self, images: np.ndarray, labels: np.ndarray, seed: np.ndarray) -> np.ndarray:
        """The NumPy side of :meth:`__call__`: the styles, then the transforms."""
        seed_value = int(seed) % 2**31
        if self._styles:
            images = apply_styles(images, labels, self._styles, seed_value)
        if self._compose is not None:
            compose = self._thread_compose()
            compose.set_random_seed(seed_value)
            images = apply_compose(compose, images)
        return images

    def _thread_compose(self) -> A.Compose:
        """This thread's own copy of the transforms (see the class docstring)."""
        if not hasattr(self._per_thread, "compose"):
            self._per_thread.compose = copy.deepcopy(self._compose)
        return self._per_thread.compose


def evaluation_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int, parallel_calls: int = 2, prefetch: int = 2
) -> tf.data.Dataset:
    """Unshuffled, unaugmented batches for validation, testing and prediction."""
    image_table = tf.constant(images)
    label_table = tf.constant(labels, dtype=tf.int64)

    def make_batch(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return _to_float(tf.gather(image_table, indices)), tf.gather(label_table, indices)

    dataset = tf.data.Dataset.range(len(labels)).batch(batch_size)
    dataset = dataset.map(make_batch, num_parallel_calls=parallel_calls, deterministic=True)
    return dataset.prefetch(prefetch).with_options(_options(parallel_calls))
