"""A fixed test split for sources that ship without one (not_mnist, folders, CSVs, embedded).

The held-out images must be the same in every run, whatever the run's seed, so
that test scores stay comparable across experiments. They are drawn per class
(stratified) from a generator seeded by a constant and the source's name, and
depend only on the order of the images, which every loader makes stable by
sorting file names.
"""

from __future__ import annotations

import zlib

import numpy as np

from digit_experiments.core.errors import ConfigError

#: Seeds every held-out draw; never derived from the run's seed.
HOLDOUT_SEED = 20_240_611


def holdout_mask(labels: np.ndarray, fraction: float, source: str) -> np.ndarray:
    """Pick a fixed, stratified ``fraction`` of the images as the test set.

    Args:
        labels: ``(N,)`` digit labels, in the source's stable order.
        fraction: Share of each class to hold out, in (0, 1).
        source: The source's name; different sources get different draws.

    Returns:
        ``(N,)`` bool, True for the held-out test images.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1 (exclusive), got {fraction}; 0.1 holds out 10 %.")
    rng = np.random.default_rng([HOLDOUT_SEED, zlib.crc32(source.encode())])
    test = np.zeros(len(labels), bool)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        test[rng.choice(members, round(fraction * len(members)), replace=False)] = True
    return test
