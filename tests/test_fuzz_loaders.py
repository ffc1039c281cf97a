"""Short, deterministic runs of the loader fuzz targets (the long campaign is ``python -m fuzz.campaign``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.targets import TARGETS, check, inputs

#: Inputs per target in the suite: enough to cover every mutation kind on every seed, in seconds.
EXAMPLES = 60


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_loader_raises_only_named_errors_on_mutated_files(name: str) -> None:
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs(target))
    def loads_or_names_the_problem(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            check(target, data, Path(folder))

    loads_or_names_the_problem()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_loads(name: str, tmp_path: Path) -> None:
    """The unmutated seeds are valid files, so mutations start from inputs that reach the parsers' depths."""
    target = TARGETS[name]
    for index, seed in enumerate(target.seeds):
        folder = tmp_path / str(index)
        folder.mkdir()
        assert target.load(target.pack(seed), folder) is not None
