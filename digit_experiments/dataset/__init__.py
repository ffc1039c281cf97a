"""Data sources, standardisation and the train/validation/test splits.

Importing this package registers every source in :data:`SOURCES`.
"""

from digit_experiments.dataset import mnist  # noqa: F401  (registers the source)
from digit_experiments.dataset.base import SOURCES, SourceData
from digit_experiments.dataset.mix import DatasetSplits, load_dataset

__all__ = ["SOURCES", "SourceData", "DatasetSplits", "load_dataset"]
