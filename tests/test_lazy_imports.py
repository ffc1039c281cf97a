"""TensorFlow loads only for work that needs it.

Hydra imports every plugin in ``hydra_plugins/`` at the start of every command,
and ``conf/hydra/default.yaml`` installs the sweep callback for every run, so
a TensorFlow import there would cost every command seconds. Each check runs in
a fresh interpreter with ``-X importtime``, which lists every module imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import imported_modules, top_level

pytestmark = pytest.mark.e2e

#: Top-level packages that only training, evaluation and prediction may import.
HEAVY = {"tensorflow", "keras"}
#: Packages the sweeper plugin must not import while Hydra scans it either.
NOT_IN_PLUGIN_SCAN = HEAVY | {"optuna", "mlflow"}
#: Every command here loads the config, so one of these shows that the import report was read.
CONFIG = ("hydra", "omegaconf")


@pytest.mark.parametrize(
    ("arguments", "succeeds"),
    [(["--help"], True), (["--cfg", "job"], True), (["model=resnet"], False)],
    ids=["help", "cfg-job", "rejected-override"],
)
def test_commands_that_train_nothing_import_no_tensorflow(arguments: list[str], succeeds: bool, tmp_path: Path) -> None:
    result, modules = imported_modules(["-m", "digit_experiments.train", *arguments], tmp_path, CONFIG)
    assert (result.returncode == 0) == succeeds, result.stderr[-3000:]
    if not succeeds:
        assert "Could not find 'model/resnet'" in result.stderr, "Hydra rejects the override, as before"
    assert not top_level(modules) & HEAVY, sorted(m for m in modules if m.split(".")[0] in HEAVY)[:10]


def test_sweeper_plugin_imports_no_keras_optuna_or_mlflow(tmp_path: Path) -> None:
    """What Hydra's plugin scan imports: the package, its config and the thin sweeper."""
    package = "hydra_plugins.digit_experiments_optuna"
    code = f"import {package}, {package}.config, {package}.optuna_sweeper"
    result, modules = imported_modules(["-c", code], tmp_path, CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not top_level(modules) & NOT_IN_PLUGIN_SCAN


def test_sweep_callback_imports_no_tensorflow(tmp_path: Path) -> None:
    """Hydra instantiates the sweep callback for every run, grid or single."""
    result, modules = imported_modules(["-c", "import digit_experiments.hpo.sweep_callback"], tmp_path, CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "digit_experiments.hpo.report" in modules and "digit_experiments.hpo.parent_run" in modules
    assert not top_level(modules) & HEAVY


def test_promote_imports_no_tensorflow(tmp_path: Path) -> None:
    """Promoting a run only talks to the registry: a mistake is reported without TensorFlow's 5 s import."""
    result, modules = imported_modules(["-m", "digit_experiments.promote", "run=0123", "name=digits"], tmp_path, CONFIG)
    assert result.returncode == 2 and "No run '0123'" in result.stderr, result.stderr[-3000:]
    assert not top_level(modules) & HEAVY, sorted(m for m in modules if m.split(".")[0] in HEAVY)[:10]
