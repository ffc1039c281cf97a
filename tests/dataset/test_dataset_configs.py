"""Every conf/dataset/*.yaml, as Hydra composes it, is a valid set of load_dataset keywords naming registered sources."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from digit_experiments.dataset import SOURCES, load_dataset
from digit_experiments.dataset.load import check_sources

from helpers import compose_config

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "dataset"
KEYWORDS = set(inspect.signature(load_dataset).parameters) - {"data_dir", "seed"}


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda path: path.stem)
def test_dataset_config_matches_load_dataset(path: Path) -> None:
    config = compose_config([f"dataset={path.stem}"]).dataset
    assert set(config) <= KEYWORDS
    sources = OmegaConf.to_container(config.sources, resolve=False)
    check_sources(sources)
    if path.stem in SOURCES:
        assert path.stem in sources, "a single-source config is named after its source"
