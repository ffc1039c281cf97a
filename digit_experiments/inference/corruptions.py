"""Deterministic corruptions of standardised 28×28 digits, for the robustness suite.

Each corruption maps a uint8 ``(n, 28, 28)`` batch (light ink on black, as
the model sees it) to a corrupted batch of the same shape, drawing every
random choice from the generator it is given, so that one seed gives the same
corrupted test set on every run and machine.

Where MNIST-C (Mu & Gilmer 2019) has the same corruption, the severity is the
one its released set uses (``corruptions.py`` of google-research/mnist-c), so
figures can be set side by side: ``shear`` (±0.4), ``rotate`` (±0.4 rad),
``scale`` (×0.7), ``translate`` (±3 px on both axes), ``gaussian_noise``
(σ 0.38), ``impulse_noise`` (17 % salt and pepper), ``gaussian_blur`` (σ 2),
``contrast`` (×0.1 about the mean), ``jpeg`` (quality 7), ``inverse``,
``stripe``, ``line`` and ``canny_edges``. The others are this project's:
``rotate_30`` (±30°), ``scale_up`` (×1.4), ``thick`` and ``thin`` strokes
(3×3 dilation and erosion) and ``elastic`` (Albumentations' ElasticTransform,
α 34, σ 4, stronger than the seed's training augmentation draws it).
"""

from __future__ import annotations

from typing import Callable

import albumentations as A
import cv2
import numpy as np
from skimage import feature

from digit_experiments.core.registry import Registry

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: Every corruption, in the order the suite reports them.
CORRUPTIONS = Registry("corruption", "suite corruptions")
_CENTRE = 13.5


def _warp(images: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Each image through its own 2×3 affine matrix (bilinear, black border)."""
    return np.stack([
        cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
        for image, matrix in zip(images, matrices)
    ])


def _about_centre(linear: np.ndarray) -> np.ndarray:
    """The 2×3 affine matrix applying ``linear`` (2×2) about the image centre, as MNIST-C keeps it fixed."""
    centre = np.array([_CENTRE, _CENTRE])
    return np.hstack([linear, (centre - linear @ centre)[:, None]]).astype(np.float32)


def _signs(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=count)


def _rotation(radians: float) -> np.ndarray:
    return np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])


def _from_unit(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


@CORRUPTIONS.register("shear")
def shear(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(images, [_about_centre(np.array([[1.0, s * 0.4], [0.0, 1.0]])) for s in _signs(rng, len(images))])


@CORRUPTIONS.register("rotate")
def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(images, [_about_centre(_rotation(s * 0.4)) for s in _signs(rng, len(images))])


@CORRUPTIONS.register("rotate_30")
def rotate_30(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(-np.pi / 6, np.pi / 6, size=len(images))
    return _warp(images, [_about_centre(_rotation(a)) for a in angles])


@CORRUPTIONS.register("scale")
def scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(images, [_about_centre(np.eye(2) * 0.7)] * len(images))


@CORRUPTIONS.register("scale_up")
def scale_up(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(images, [_about_centre(np.eye(2) * 1.4)] * len(images))


@CORRUPTIONS.register("translate")
def translate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shifts = _signs(rng, 2 * len(images)).reshape(-1, 2) * 3
    return _warp(images, [np.array([[1, 0, dx], [0, 1, dy]], np.float32) for dx, dy in shifts])


@CORRUPTIONS.register("thick")
def thick(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.stack([cv2.dilate(image, np.ones((3, 3), np.uint8)) for image in images])


@CORRUPTIONS.register("thin")
def thin(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.stack([cv2.erode(image, np.ones((3, 3), np.uint8)) for image in images])


@CORRUPTIONS.register("elastic")
def elastic(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    transform = A.Compose([A.ElasticTransform(alpha=34.0, sigma=4.0, p=1.0)], seed=int(rng.integers(2**31)))
    return np.stack([transform(image=image)["image"] for image in images])


@CORRUPTIONS.register("gaussian_noise")
def gaussian_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _from_unit(images / 255.0 + rng.normal(scale=0.38, size=images.shape))


@CORRUPTIONS.register("impulse_noise")
def impulse_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = images.copy()
    hit = rng.random(images.shape) < 0.17
    noisy[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)
    return noisy


@CORRUPTIONS.register("gaussian_blur")
def gaussian_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REFLECT) for image in images])


@CORRUPTIONS.register("contrast")
def contrast(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    unit = images / 255.0
    means = unit.mean(axis=(1, 2), keepdims=True)
    return _from_unit((unit - means) * 0.1 + means)


@CORRUPTIONS.register("inverse")
def inverse(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 255 - images


@CORRUPTIONS.register("jpeg")
def jpeg(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    def roundtrip(image: np.ndarray) -> np.ndarray:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 7])
        return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)

    return np.stack([roundtrip(image) for image in images])


@CORRUPTIONS.register("stripe")
def stripe(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    striped = images.copy()
    striped[:, :, :7] = 255 - striped[:, :, :7]
    striped[:, :, 21:] = 255 - striped[:, :, 21:]
    return striped


@CORRUPTIONS.register("line")
def line(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright line across the digit, from a random row near the left edge to one near the right (MNIST-C's)."""
    lined = images.copy()
    for image in lined:
        start = (int(rng.integers(0, 5)), int(rng.integers(0, 27)))
        end = (int(rng.integers(22, 27)), int(rng.integers(0, 27)))
        cv2.line(image, start, end, 255, thickness=2, lineType=cv2.LINE_AA)
    return lined


@CORRUPTIONS.register("canny_edges")
def canny_edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.stack([feature.canny(image / 255.0).astype(np.uint8) * 255 for image in images])


def corrupt(name: str, images: np.ndarray, seed: int) -> np.ndarray:
    """``images`` through corruption ``name``, with its random choices drawn from ``seed``.

    The corruption's own generator is derived from ``seed`` and its name, so
    adding a corruption to the suite changes no other one.
    """
    rng = np.random.default_rng([seed, *name.encode()])
    return CORRUPTIONS.get(name)(images, rng)
