"""digit_experiments: config-driven handwritten-digit classification experiments.

Hydra composes a run from the groups in ``conf/``; registries in this package turn
the composed names into Keras models, tf.data pipelines and callbacks; MLflow
records everything a run did.
"""

__version__ = "0.1.0"
