"""The tf.data pipeline and the augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from digit_experiments.augment.albumentations_set import CHUNK_SIZE, compute_static_copy, static_copy
from digit_experiments.augment.geometric import random_affine
from digit_experiments.core.errors import ConfigError
from digit_experiments.core.validation import validate
from digit_experiments.training.pipeline import evaluation_dataset, training_dataset

from helpers import compose_config

SEED_AUGMENT = dict(compose_config(["augment=seed"]).augment)
NO_AUGMENT = {"albumentations": {"mode": "off"}, "geometric": {}}


def labelled_images(count: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel encodes the label, so alignment is checkable after batching."""
    labels = np.arange(count) % 10
    images = np.repeat((labels * 25).astype(np.uint8)[:, None, None], 28, axis=1).repeat(28, axis=2)
    return images, labels


def collect(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    batches = list(dataset.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_training_batches_keep_labels_aligned_and_cover_every_image() -> None:
    images, labels = labelled_images()
    x, y = collect(training_dataset(images, labels, batch_size=64, seed=1, augment=NO_AUGMENT))
    assert x.shape == (300, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x[:, 0, 0, 0], y * 25 / 255.0, rtol=1e-6)
    assert sorted(y.tolist()) == sorted(labels.tolist())
    assert not np.array_equal(y, labels), "training batches must be shuffled"


def test_augmented_batches_are_deterministic_for_a_seed_and_in_range() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 200)
    copy = compute_static_copy(images, SEED_AUGMENT["albumentations"]["transforms"], seed=5, workers=1)

    def batches(seed: int) -> tuple[np.ndarray, np.ndarray]:
        return collect(training_dataset(images, labels, 50, seed, SEED_AUGMENT, copy))

    first, again, other = batches(5), batches(5), batches(6)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (200, 28, 28, 1) and 0.0 <= first[0].min() and first[0].max() <= 1.0


def test_realtime_transforms_are_deterministic_while_batches_are_prepared_in_parallel() -> None:
    """Two batches augmented at once in ``parallel_calls`` threads must not share one seeded generator.

    The robust recipe's transforms run per batch in tf.data's threads; each batch reseeds its
    transforms. Were the threads to share them, one batch would draw from the other's seed and
    two runs of one seed would train on different images.
    """
    augment = dict(compose_config(["experiment=robust"]).augment)
    rng = np.random.default_rng(0)
    images = np.zeros((480, 28, 28), np.uint8)
    images[:, 6:22, 10:18] = rng.integers(128, 256, (480, 16, 8), dtype=np.uint8)
    labels = rng.integers(0, 10, 480)

    def batches() -> np.ndarray:
        return collect(training_dataset(images, labels, 16, 3, augment, parallel_calls=4))[0]

    first = batches()
    for _ in range(2):
        np.testing.assert_array_equal(batches(), first)


def test_each_epoch_is_reshuffled_and_reaugmented() -> None:
    images, labels = labelled_images(128)
    dataset = training_dataset(images, labels, 32, 2, SEED_AUGMENT, images)
    epoch1, epoch2 = collect(dataset), collect(dataset)
    assert not np.array_equal(epoch1[1], epoch2[1])


def test_evaluation_batches_are_in_order_and_unaugmented() -> None:
    images, labels = labelled_images(100)
    x, y = collect(evaluation_dataset(images, labels, batch_size=32))
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)


def test_random_affine_with_zero_ranges_is_the_identity_and_moves_pixels_otherwise() -> None:
    images = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2])
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_allclose(random_affine(images, seed).numpy(), images.numpy(), atol=1e-5)
    moved = random_affine(images, seed, rotation_degrees=15, width_shift=0.1, height_shift=0.1, zoom=0.1)
    assert np.abs(moved.numpy() - images.numpy()).mean() > 0.05


def test_random_affine_without_shear_or_stretch_draws_exactly_as_before_they_existed() -> None:
    """Adding the two options changed no existing recipe's augmentation (same seed, same images)."""
    images = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2])
    seed = tf.constant([3, 4], tf.int64)
    options = {"rotation_degrees": 15, "width_shift": 0.1, "height_shift": 0.1, "zoom": 0.1}
    np.testing.assert_array_equal(
        random_affine(images, seed, **options).numpy(), random_affine(images, seed, shear=0.0, width_stretch=0.0, **options).numpy()
    )


def test_width_stretch_changes_the_width_alone_and_shear_slants_a_vertical_stroke() -> None:
    bar = np.zeros((64, 28, 28, 1), np.float32)
    bar[:, 13:15, 6:22] = 1.0  # a horizontal bar 16 px wide, 2 px high
    stretched = random_affine(tf.constant(bar), tf.constant([1, 2], tf.int64), width_stretch=0.5).numpy()[..., 0]
    widths = [np.ptp(np.where(image.max(axis=0) > 0.5)[0]) + 1 for image in stretched]
    heights = {int(np.ptp(np.where(image.max(axis=1) > 0.5)[0]) + 1) for image in stretched}
    assert min(widths) < 12 and max(widths) > 20 and heights == {2}
    stroke = np.zeros((1, 28, 28, 1), np.float32)
    stroke[0, 4:24, 13:15] = 1.0
    slanted = random_affine(tf.constant(stroke), tf.constant([5, 6], tf.int64), shear=0.5).numpy()[0, ..., 0]
    top, bottom = np.argmax(slanted[5]), np.argmax(slanted[22])
    assert abs(int(top) - int(bottom)) >= 3, "the top and the bottom of the stroke moved apart sideways"


@pytest.mark.parametrize(("name", "options", "changes_ink"), [
    ("thicken_strokes", {"scale": [3, 3]}, "more"),
    ("thin_strokes", {"scale": [2, 2]}, "less"),
    ("gaussian_blur", {"sigma_limit": [1.5, 1.5]}, "spread"),
    ("salt_and_pepper", {"amount": [0.2, 0.2]}, "spread"),
])
def test_the_robust_set_s_own_transforms(name: str, options: dict, changes_ink: str) -> None:
    from digit_experiments.augment.albumentations_set import build_compose

    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    out = build_compose({name: {"p": 1.0, **options}}, seed=1)(image=image)["image"]
    inked, before = int((out > 127).sum()), int((image > 127).sum())
    if changes_ink == "more":
        assert inked > before
    elif changes_ink == "less":
        assert 0 < inked < before
    else:
        assert ((out > 0) & (image == 0)).sum() > 20, "ink (or noise) reaches the background"


def test_static_copy_is_cached_and_deterministic() -> None:
    images = np.full((CHUNK_SIZE + 100, 28, 28), 200, np.uint8)  # two chunks: two worker processes
    transforms = {"coarse_dropout": {"p": 1.0, "num_holes_range": [2, 2], "hole_height_range": [4, 4], "hole_width_range": [4, 4]}}
    first = static_copy(images, transforms, seed=9)
    assert ((first != images).reshape(len(images), -1).any(axis=1)).all(), "coarse dropout with p=1 changes every image"
    np.testing.assert_array_equal(first, compute_static_copy(images, transforms, seed=9, workers=1))
    np.testing.assert_array_equal(first, static_copy(images, transforms, seed=9))  # from the cache


def test_albumentations_option_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="gauss_noise"):
        compute_static_copy(np.zeros((2, 28, 28), np.uint8), {"gauss_noise": {"p": 1.0, "std_range": [0.5, 0.1]}}, 0, 1)


def test_european_ones_get_a_flag_on_upright_ones_only_and_other_digits_are_untouched() -> None:
    from digit_experiments.augment.styles import apply_styles

    upright, leaning, seven = (np.zeros((28, 28), np.uint8) for _ in range(3))
    upright[4:24, 13:16] = 255
    for row in range(4, 24):
        leaning[row, 6 + row // 2 : 9 + row // 2] = 255
    seven[4:24, 13:16] = 255
    images, labels = np.stack([upright, leaning, seven]), np.array([1, 1, 7])
    styled = apply_styles(images, labels, {"european_ones": {"p": 1.0, "foot_p": 0.0}}, seed=3)
    flag = styled[0, 5:14, :13]
    assert (flag > 128).sum() >= 6, "a flag to the left of the top of the stroke"
    np.testing.assert_array_equal(styled[1:], images[1:])
    np.testing.assert_array_equal(apply_styles(images, labels, {"european_ones": {"p": 1.0}}, seed=3), apply_styles(images, labels, {"european_ones": {"p": 1.0}}, seed=3))


def test_european_ones_flag_length_and_angle_reach_wide_shallow_flags() -> None:
    from digit_experiments.augment.styles import apply_styles

    upright = np.zeros((1, 28, 28), np.uint8)
    upright[0, 4:24, 13:16] = 255
    default = apply_styles(upright, np.array([1]), {"european_ones": {"p": 1.0, "foot_p": 0.0}}, seed=3)
    long_shallow = {"p": 1.0, "foot_p": 0.0, "flag_length": [0.7, 0.7], "flag_angle": [20, 20]}
    wide = apply_styles(upright, np.array([1]), {"european_ones": long_shallow}, seed=3)
    assert (default[0, :, :3] > 0).sum() == 0, "the default flag is at most half the height long"
    assert (wide[0, 4:14, :3] > 128).sum() >= 1 and (wide[0, 14:, :13] > 0).sum() == 0, "a long flag that stays high"


def test_curled_nines_hang_a_tail_below_the_stem_that_stays_clear_of_the_loop() -> None:
    import cv2

    from digit_experiments.augment.styles import apply_styles

    from helpers.digit_checks import assert_mnist_style

    nine = np.zeros((28, 28), np.uint8)
    cv2.circle(nine, (13, 9), 5, 255, 2)
    cv2.line(nine, (18, 9), (18, 24), 255, 2)
    turning = nine.copy()  # a 9 whose stem already turns left at its end: no stem to curl
    turning[21:, :] = 0
    cv2.line(turning, (18, 20), (10, 24), 255, 2)
    images, labels = np.stack([nine, nine, turning]), np.array([9, 7, 9])
    styled = apply_styles(images, labels, {"curled_nines": {"p": 1.0}}, seed=3)

    assert_mnist_style(styled[:1])
    inked = styled[0] > 128
    rows = np.flatnonzero(inked.any(axis=1))
    stem_column = np.flatnonzero(inked[rows[-1] - 6])[-1]
    assert inked[rows[-1] - 3 :, : stem_column - 5].any(), "a tail curling back to the left under the stem"
    narrow = [np.ptp(np.flatnonzero(row)) < 4 for row in inked[rows[0] : rows[-1] + 1]]
    assert any(all(narrow[i : i + 3]) for i in range(len(narrow) - 2)), "the stem alone between loop and tail: a 9, not an 8"
    np.testing.assert_array_equal(styled[1:], images[1:])
    np.testing.assert_array_equal(apply_styles(images, labels, {"curled_nines": {"p": 1.0}}, seed=3), styled)
    np.testing.assert_array_equal(apply_styles(images, labels, {"curled_nines": {"p": 0.0}}, seed=3), images)


def test_realtime_styles_draw_fresh_flags_on_every_epochs_ones_and_leave_other_digits_alone() -> None:
    upright = np.zeros((28, 28), np.uint8)
    upright[4:24, 13:16] = 255
    images, labels = np.stack([upright] * 8), np.array([1, 7] * 4)
    augment = {"albumentations": {"mode": "realtime"}, "styles": {"european_ones": {"p": 1.0, "foot_p": 0.0}}, "geometric": {}}
    dataset = training_dataset(images, labels, batch_size=4, seed=2, augment=augment)
    epochs = [collect(dataset) for _ in range(2)]
    for x, y in epochs:
        ones = x[y == 1, 5:14, :13, 0]
        assert ((ones > 0.5).reshape(len(ones), -1).sum(axis=1) >= 6).all(), "every upright 1 gets a flag"
        np.testing.assert_array_equal(x[y == 7, ..., 0], np.broadcast_to(upright / 255.0, (4, 28, 28)).astype(np.float32))
    first, second = (x[y == 1] for x, y in epochs)
    assert not np.array_equal(first, second), "a new flag every epoch"
    np.testing.assert_array_equal(collect(training_dataset(images, labels, 4, 2, augment))[0], epochs[0][0])


def test_styles_name_their_mistakes() -> None:
    from digit_experiments.augment.styles import check_styles

    with pytest.raises(ConfigError, match="Valid style names are: box_filled, curled_nines, european_ones"):
        check_styles({"cursive": {}}, "static")
    with pytest.raises(ConfigError, match="does not take the option"):
        check_styles({"european_ones": {"q": 1}}, "static")
    with pytest.raises(ConfigError, match="augment.albumentations.mode=realtime"):
        check_styles({"european_ones": {}}, "off")
    check_styles({"european_ones": {}}, "realtime")
    with pytest.raises(ConfigError, match="flag_length"):
        validate(compose_config(["experiment=robust", "++augment.styles.european_ones.flag_length=[0.6,0.3]", "paths.output_dir=/tmp/unused"]))
    with pytest.raises(ConfigError, match=r"box_filled.aspect.*width over its height"):
        validate(compose_config(["experiment=robust", "++augment.styles.box_filled.aspect=[1.0,0.5]", "paths.output_dir=/tmp/unused"]))
    with pytest.raises(ConfigError, match=r"curled_nines.curl_size.*digit's height"):
        validate(compose_config(["experiment=robust", "++augment.styles.curled_nines.curl_size=[0.3,0.1]", "paths.output_dir=/tmp/unused"]))
    with pytest.raises(ConfigError, match=r"curled_nines.curl_turn.*degrees"):
        validate(compose_config(["experiment=robust", "++augment.styles.curled_nines.curl_turn=[150,400]", "paths.output_dir=/tmp/unused"]))
    with pytest.raises(ConfigError, match=r"box_filled.binary_p.*probability"):
        validate(compose_config(["experiment=robust", "++augment.styles.box_filled.binary_p=2", "paths.output_dir=/tmp/unused"]))


def test_box_filled_rescans_a_thin_one_as_wide_as_it_is_high_and_standardises_it_again() -> None:
    from digit_experiments.augment.styles import apply_styles

    from helpers.digit_checks import assert_mnist_style

    thin = np.zeros((2, 28, 28), np.uint8)
    thin[:, 4:24, 13:16] = 255
    labels = np.array([1, 7])  # any class: a scanner does not read the digit
    square = {"box_filled": {"p": 1.0, "aspect": [1.0, 1.0], "side": [16, 16], "binary_p": 1.0}}
    scanned = apply_styles(thin, labels, square, seed=5)
    assert_mnist_style(scanned)
    for image in scanned:
        rows, columns = np.nonzero(image)
        assert np.ptp(rows) + 1 == 20 and np.ptp(columns) + 1 == 20, "a 3-pixel stroke filled a square frame"
    np.testing.assert_array_equal(apply_styles(thin, labels, square, seed=5), scanned)
    untouched = {"box_filled": {**square["box_filled"], "p": 0.0}}
    np.testing.assert_array_equal(apply_styles(thin, labels, untouched, seed=5), thin)


def test_styles_run_in_their_listed_order_so_flagged_ones_are_rescanned() -> None:
    from digit_experiments.augment.styles import apply_styles

    upright = np.zeros((1, 28, 28), np.uint8)
    upright[0, 4:24, 13:16] = 255
    flag = {"european_ones": {"p": 1.0, "foot_p": 0.0}}
    fill = {"box_filled": {"p": 1.0, "aspect": [1.0, 1.0], "side": [20, 20], "binary_p": 0.0}}
    flagged_then_filled = apply_styles(upright, np.array([1]), {**flag, **fill}, seed=4)
    filled_then_flagged = apply_styles(upright, np.array([1]), {**fill, **flag}, seed=4)
    assert not np.array_equal(flagged_then_filled, filled_then_flagged)
    assert (flagged_then_filled[0] > 0).sum() < (filled_then_flagged[0] > 0).sum(), "a stretched flag, not a flag on a block"
