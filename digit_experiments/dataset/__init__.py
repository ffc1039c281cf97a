"""Data sources, standardisation and the train/validation/test splits.

Importing this package registers every source in :data:`SOURCES`: ``mnist``,
``emnist_digits``, ``usps``, ``not_mnist``, ``fonts``, ``folder``, ``csv``,
``embedded`` and ``auto`` (MNIST, or the embedded set when MNIST cannot be had).
"""

from digit_experiments.dataset.sources import (  # noqa: F401  (each module registers its source)
    auto,
    csv_file,
    embedded,
    emnist,
    folder,
    fonts,
    mnist,
    not_mnist,
    usps,
)
from digit_experiments.dataset.sources.base import SOURCES, SourceData
from digit_experiments.dataset.load import DatasetSplits, load_dataset

__all__ = ["SOURCES", "SourceData", "DatasetSplits", "load_dataset"]
