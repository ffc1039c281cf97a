"""Augmentation: the seed's Albumentations set and its real-time geometric set.

* :mod:`.albumentations_set` builds the photometric/elastic transforms (elastic
  deformation, Gaussian noise, coarse dropout, brightness/contrast, inversion)
  from the ``augment.albumentations`` config, and computes the cached
  "static" augmented copy of a training set in parallel worker processes.
* :mod:`.geometric` applies random rotation, shift and zoom to whole batches
  inside the tf.data graph (one projective transform per image).

This package's ``__init__`` stays free of TensorFlow so that worker processes
importing :mod:`.albumentations_set` start quickly.
"""
