"""Random rotation, shift, zoom, shear and width stretch of whole batches inside the tf.data graph.

The three Keras preprocessing layers would resample each image three times;
composing the three into one affine matrix per image resamples once, with
TensorFlow's ``ImageProjectiveTransformV3`` kernel, at tens of thousands of
images per second on a CPU.
"""

from __future__ import annotations

import math

import tensorflow as tf


def random_affine(
    images: tf.Tensor,
    seed: tf.Tensor,
    rotation_degrees: float = 0.0,
    width_shift: float = 0.0,
    height_shift: float = 0.0,
    zoom: float = 0.0,
    shear: float = 0.0,
    width_stretch: float = 0.0,
) -> tf.Tensor:
    """Rotate, shift, zoom, shear and stretch each image of a batch by its own random amount.

    Args:
        images: ``(batch, height, width, channels)`` float tensor.
        seed: Shape-``(2,)`` int tensor; the same seed gives the same transforms.
        rotation_degrees: Maximum rotation either way, in degrees.
        width_shift: Maximum horizontal shift, as a fraction of the width.
        height_shift: Maximum vertical shift, as a fraction of the height.
        zoom: Maximum relative zoom in or out (0.1 means 0.9×–1.1×).
        shear: Maximum horizontal shear either way (x moves by ``shear`` × the height above the centre),
            the slant of writers who lean their letters.
        width_stretch: Maximum relative change of the width alone (0.4 means 0.6×–1.4× as wide),
            for scans stretched or squeezed to fill their box (the standardisation keeps the
            aspect ratio it is given, so it cannot undo them).

    Returns:
        The transformed batch; uncovered pixels are filled with 0 (background).
    """
    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, num=4)

    def uniform(index: int, limit: float) -> tf.Tensor:
        return tf.random.stateless_uniform([batch], seed=seeds[index], minval=-limit, maxval=limit)

    angle = uniform(0, math.radians(rotation_degrees))
    scale = 1.0 + uniform(1, zoom)
    shift_x = uniform(2, width_shift) * width
    shift_y = uniform(3, height_shift) * height

    slant, stretch = _slant_and_stretch(seeds[3], batch, shear, width_stretch)

    # Output pixel p maps to input pixel c + M (p - c) - shift, with c the image centre and
    # M = R(angle) H(-slant) S(1 / stretch) / scale: the inverse of stretching the width, then
    # shearing, then rotating and zooming the digit.
    cos, sin = tf.cos(angle), tf.sin(angle)
    m00 = cos / (stretch * scale)
    m01 = -(cos * slant + sin) / scale
    m10 = sin / (stretch * scale)
    m11 = (cos - sin * slant) / scale
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    offset_x = centre_x - m00 * centre_x - m01 * centre_y - shift_x
    offset_y = centre_y - m10 * centre_x - m11 * centre_y - shift_y
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([m00, m01, offset_x, m10, m11, offset_y, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _slant_and_stretch(seed: tf.Tensor, batch: tf.Tensor, shear: float, width_stretch: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Each image's shear and width factor; drawn from seeds of their own, so that a config
    without them transforms exactly as before they existed."""
    if not (shear or width_stretch):
        return tf.zeros([batch]), tf.ones([batch])
    seeds = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 1), num=2)
    slant = tf.random.stateless_uniform([batch], seed=seeds[0], minval=-shear, maxval=shear)
    stretch = 1.0 + tf.random.stateless_uniform([batch], seed=seeds[1], minval=-width_stretch, maxval=width_stretch)
    return slant, stretch
