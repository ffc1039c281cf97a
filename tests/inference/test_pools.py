"""The pool helpers keep task order, and the static augmented copy does not depend on the worker count."""

from __future__ import annotations

import numpy as np

from digit_experiments.augment.albumentations_set import CHUNK_SIZE, compute_static_copy
from digit_experiments.core.pools import process_map, thread_map, worker_count


def test_thread_and_process_maps_keep_the_task_order() -> None:
    tasks = list(range(50))
    assert thread_map(abs, [-t for t in tasks]) == tasks
    assert thread_map(abs, [-t for t in tasks], workers=1) == tasks
    assert process_map(abs, [-t for t in tasks], workers=2) == tasks
    assert thread_map(abs, []) == [] and worker_count() >= 1


def test_static_copy_is_the_same_on_one_worker_and_on_a_pool() -> None:
    images = np.random.default_rng(1).integers(0, 256, (CHUNK_SIZE + 10, 28, 28), dtype=np.uint8)
    transforms = {"gauss_noise": {"p": 1.0}, "coarse_dropout": {"p": 0.5}}
    alone = compute_static_copy(images, transforms, seed=3, workers=1)
    pooled = compute_static_copy(images, transforms, seed=3, workers=2)
    np.testing.assert_array_equal(alone, pooled)
    assert not np.array_equal(alone, images)
