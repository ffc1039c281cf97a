"""``Deskew``: straighten each digit's slant inside the model, so every input is upright.

USPS was deslanted when it was made (the second image moment of every one of its
digits is zero to within 0.004 columns per row), MNIST was not (a mean absolute slant
of 0.22 columns per row, measured on both test sets). A model that deskews its own
inputs sees the two, and a user's upright or slanted handwriting, the same way. The
classical moment method (the "deskewing" of the MNIST benchmark tables): the slant is the
covariance of row and column over the row variance of the ink, and a horizontal
shear about the centre of mass removes it.

It is a layer, not a step of the data standardisation, because the model then
carries it wherever it goes (evaluate, predict, ``mlflow models serve``, the
SavedModel export) and augmentations applied before it are straightened too, as a
user's input would be. No Keras layer computes image moments, hence these few
lines; the shear itself is ``keras.ops.image.affine_transform``.
"""

from __future__ import annotations

import keras
from keras import ops

#: Avoids a division by zero on a blank image (which is left as it is).
_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="digit_experiments")
class Deskew(keras.layers.Layer):
    """Shear each image horizontally about its centre of mass so that its ink stands upright.

    Args:
        max_slant: Largest slant removed, in columns per row; a steeper estimate
            (a blob, a stray mark) is clipped to it.
        **kwargs: ``keras.layers.Layer`` options. The layer always computes in
            float32: moments in bfloat16 are too coarse to place a stroke.

    Call args:
        images: ``(batch, height, width, 1)`` ink intensities, light on black.

    Returns:
        The deskewed images, same shape, float32.
    """

    def __init__(self, max_slant: float = 1.0, **kwargs) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.max_slant = float(max_slant)

    def call(self, images):
        images = ops.cast(images, "float32")
        ink = images[..., 0]
        shape = ops.shape(ink)  # dynamic: augmented batches arrive without a static size
        rows = ops.reshape(ops.arange(shape[1], dtype="float32"), (1, -1, 1))
        columns = ops.reshape(ops.arange(shape[2], dtype="float32"), (1, 1, -1))
        mass = ops.sum(ink, axis=(1, 2)) + _EPSILON
        row_mean = ops.sum(ink * rows, axis=(1, 2)) / mass
        column_mean = ops.sum(ink * columns, axis=(1, 2)) / mass
        row_offset = rows - row_mean[:, None, None]
        column_offset = columns - column_mean[:, None, None]
        covariance = ops.sum(ink * row_offset * column_offset, axis=(1, 2))
        variance = ops.sum(ink * row_offset * row_offset, axis=(1, 2)) + _EPSILON
        slant = ops.clip(covariance / variance, -self.max_slant, self.max_slant)
        # Output pixel (x, y) reads input pixel (x + slant * (y - row_mean), y).
        zeros, ones = ops.zeros_like(slant), ops.ones_like(slant)
        transforms = ops.stack([ones, slant, -slant * row_mean, zeros, ones, zeros, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_slant": self.max_slant}
