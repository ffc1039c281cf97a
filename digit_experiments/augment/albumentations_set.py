"""The seed's Albumentations transforms, by name, and the cached static augmented copy.

The seed applied its Albumentations set "statically": an augmented copy of the
training images, computed once. Per-image Albumentations calls run at only a
few thousand images per second under the GIL, so doing them inside tf.data
would slow every epoch; computing the copy once, in parallel processes, and
caching it costs a few seconds per dataset instead. The ``realtime`` mode
(a fresh augmentation every epoch, slower) is also available for comparison.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from typing import Any, Mapping

import albumentations as A
import numpy as np

from digit_experiments.core.array_cache import cached_arrays
from digit_experiments.core.errors import ConfigError
from digit_experiments.core.pools import process_map
from digit_experiments.core.registry import Registry

log = logging.getLogger(__name__)

AUGMENTATIONS = Registry("augmentation", "augment.albumentations.transforms")
AUGMENTATIONS.register("elastic_transform")(A.ElasticTransform)
AUGMENTATIONS.register("gauss_noise")(A.GaussNoise)
AUGMENTATIONS.register("coarse_dropout")(A.CoarseDropout)
AUGMENTATIONS.register("random_brightness_contrast")(A.RandomBrightnessContrast)
AUGMENTATIONS.register("invert")(A.InvertImg)
# Stroke width, blur, impulse noise: the writing instruments and scanners the seed's set leaves out.
AUGMENTATIONS.register("thicken_strokes")(functools.partial(A.Morphological, operation="dilation"))
AUGMENTATIONS.register("thin_strokes")(functools.partial(A.Morphological, operation="erosion"))
AUGMENTATIONS.register("gaussian_blur")(A.GaussianBlur)
AUGMENTATIONS.register("salt_and_pepper")(A.SaltAndPepper)

MODES = ("static", "realtime", "off")

#: Images per work unit; each chunk has its own seed, so results do not depend on the worker count.
CHUNK_SIZE = 2048


def check_transforms(transforms: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Fail early on an unknown transform name or option, listing the valid ones."""
    for name, options in transforms.items():
        AUGMENTATIONS.check_arguments(name, (options or {}).keys())


def build_compose(transforms: Mapping[str, Mapping[str, Any] | None], seed: int) -> A.Compose:
    """An ``A.Compose`` of the configured transforms, in config order, seeded.

    Raises:
        ConfigError: when Albumentations rejects a transform's options.
    """
    steps = []
    for name, options in transforms.items():
        try:
            steps.append(AUGMENTATIONS.build(name, **(options or {})))
        except ConfigError:
            raise
        except (ValueError, TypeError) as error:  # pydantic validation errors are ValueErrors
            message = " ".join(str(error).split())
            raise ConfigError(
                f"Invalid options for augmentation {name!r} (config key `augment.albumentations.transforms.{name}`): "
                f"{message}. See the Albumentations 2.0 documentation of {type(AUGMENTATIONS.get(name)).__name__}."
            ) from error
    return A.Compose(steps, seed=seed)


def apply_compose(compose: A.Compose, images: np.ndarray) -> np.ndarray:
    """Apply ``compose`` to each ``(28, 28)`` uint8 image of a batch."""
    return np.stack([compose(image=image)["image"] for image in images]).astype(np.uint8)


def _augment_chunk(job: tuple[np.ndarray, dict[str, Any], int]) -> np.ndarray:
    """Worker-process body: augment one chunk with its own seed."""
    import cv2

    cv2.setNumThreads(1)
    images, transforms, seed = job
    return apply_compose(build_compose(transforms, seed), images)


def chunk_seed(seed: int, index: int) -> int:
    """A 31-bit seed for chunk ``index`` of a run seeded with ``seed``."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:4], "little") >> 1


def compute_static_copy(
    images: np.ndarray, transforms: Mapping[str, Any], seed: int, workers: int | None = None
) -> np.ndarray:
    """Augment every image once, in parallel processes; deterministic for a given seed.

    Albumentations runs Python code per image under the GIL, so the chunks go
    to worker processes (:func:`~digit_experiments.core.pools.process_map`),
    not threads. Each chunk of :data:`CHUNK_SIZE` images has its own seed and
    the chunks are joined in order, so the result does not depend on the
    number of workers.

    Args:
        images: ``(N, 28, 28)`` uint8 images.
        transforms: ``{transform name: options}``, as in ``augment.albumentations.transforms``.
        seed: The run's seed.
        workers: At most this many processes; default one per available core.

    Returns:
        The ``(N, 28, 28)`` uint8 augmented copy.
    """
    transforms = dict(transforms)
    jobs = [
        (images[start : start + CHUNK_SIZE], transforms, chunk_seed(seed, index))
        for index, start in enumerate(range(0, len(images), CHUNK_SIZE))
    ]
    return np.concatenate(process_map(_augment_chunk, jobs, workers))


def static_copy(images: np.ndarray, transforms: Mapping[str, Any], seed: int) -> np.ndarray:
    """The augmented copy of ``images``, from the cache when the same inputs were seen before.

    The cache key covers the images' bytes, the transforms and their options,
    the seed and the Albumentations version.
    """
    key = {
        "images_sha256": hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest(),
        "shape": list(images.shape),
        "transforms": dict(transforms),
        "seed": seed,
        "albumentations": A.__version__,
        "chunk_size": CHUNK_SIZE,
    }
    arrays, hit = cached_arrays("augment", key, lambda: {"images": compute_static_copy(images, transforms, seed)})
    log.info("Static augmented copy of %d images %s.", len(images), "loaded from cache" if hit else "computed")
    return arrays["images"]
