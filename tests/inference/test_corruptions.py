"""The robustness suite's corruptions: deterministic per seed, shape-preserving, and each one changes the digits."""

from __future__ import annotations

import numpy as np
import pytest

from digit_experiments.inference.corruptions import CORRUPTIONS, corrupt

_RNG = np.random.default_rng(0)
#: Ten blocky "digits": a bright bar on black, somewhere in the middle of the frame.
DIGITS = np.zeros((10, 28, 28), np.uint8)
for _index, _digit in enumerate(DIGITS):
    _top, _left = _RNG.integers(6, 12, size=2)
    _digit[_top:_top + 14, _left:_left + 5] = 255


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_a_corruption_is_deterministic_keeps_the_shape_and_changes_the_digits(name: str) -> None:
    first = corrupt(name, DIGITS, seed=42)
    assert first.shape == DIGITS.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, corrupt(name, DIGITS, seed=42))
    assert not np.array_equal(first, DIGITS)


def test_random_corruptions_differ_between_seeds_and_between_each_other() -> None:
    assert not np.array_equal(corrupt("gaussian_noise", DIGITS, 1), corrupt("gaussian_noise", DIGITS, 2))
    assert not np.array_equal(corrupt("rotate", DIGITS, 1), corrupt("rotate_30", DIGITS, 1))


def test_mnist_c_severities() -> None:
    """Spot checks against MNIST-C's released severities: 3 px translation, ×0.1 contrast, inverted stripes."""
    shifted = corrupt("translate", DIGITS, 0)
    assert all(abs(int(np.argwhere(s).mean(0)[1] - np.argwhere(d).mean(0)[1])) == 3 for s, d in zip(shifted, DIGITS))
    assert corrupt("contrast", DIGITS, 0).max() < 255 * 0.1 + DIGITS.mean(axis=(1, 2)).max() + 1
    np.testing.assert_array_equal(corrupt("stripe", DIGITS, 0)[:, :, :7], 255 - DIGITS[:, :, :7])
