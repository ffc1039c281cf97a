"""The start-up shared by the commands: user errors as one paragraph, TensorFlow quiet and not imported early."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from digit_experiments.core import startup
from digit_experiments.core.errors import UserError

from helpers import command_environment, run_cli

COMMANDS = ("train", "evaluate", "predict", "export", "demo")


def test_a_user_error_exits_2_with_one_paragraph(capsys: pytest.CaptureFixture[str]) -> None:
    def work(config):
        raise UserError(f"Bad value {config['x']}: use another.")

    with pytest.raises(SystemExit) as exited:
        startup.run_command(work, OmegaConf.create({"x": 1, "y": "${x}"}))
    assert exited.value.code == 2
    assert capsys.readouterr().err == "\nError: Bad value 1: use another.\n"


def test_the_work_gets_the_resolved_config_as_a_dict() -> None:
    assert startup.run_command(lambda config: config, OmegaConf.create({"x": 1, "y": "${x}"})) == {"x": 1, "y": 1}


@pytest.mark.e2e
@pytest.mark.parametrize("command", COMMANDS)
def test_importing_a_command_quiets_tensorflow_without_importing_it(command: str) -> None:
    probe = (
        f"import os, sys; import digit_experiments.{command}; "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    env = command_environment()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr[-2000:]


def _import_tensorflow_in_a_new_process(log_level: str | None) -> subprocess.CompletedProcess[str]:
    probe = (
        "import sys; from digit_experiments.core import startup; startup.quiet_libraries(); "
        "startup.import_tensorflow(); print('tensorflow' in sys.modules)"
    )
    env = command_environment()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    if log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = log_level
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_tensorflow_is_imported_without_the_start_up_lines_no_log_level_silences() -> None:
    quiet = _import_tensorflow_in_a_new_process(None)
    assert quiet.returncode == 0 and quiet.stdout.split() == ["True"], quiet.stderr[-2000:]
    assert not any(chatter in quiet.stderr for chatter in startup.IMPORT_CHATTER), quiet.stderr

    asked_for_info = _import_tensorflow_in_a_new_process("0")
    assert startup.IMPORT_CHATTER[0] in asked_for_info.stderr, "a user who asks for TensorFlow's info lines gets them"


@pytest.mark.e2e
@pytest.mark.parametrize(("command", "arguments", "unknown"), [
    ("evaluate", ["model_uri=model.keras", "+dataset.max_test_image_per_source=100"], "dataset.max_test_image_per_source"),
    ("evaluate", ["model_uri=model.keras", "+tta_views=3"], "tta_views"),
    ("predict", ["model_uri=model.keras", "inputs=[a.png]", "+formatt=json"], "formatt"),
    ("export", ["model_uri=model.keras", "output=exported", "+tracking.urii=x"], "tracking.urii"),
    ("promote", ["run=abc", "name=digits", "+aliass=champion"], "aliass"),
    ("demo", ["model_uri=model.keras", "+prot=8000"], "prot"),
])
def test_every_command_refuses_a_key_nothing_reads(command: str, arguments: list[str], unknown: str, tmp_path) -> None:
    """Hydra's own hint for a misspelt key is to add it with `+`, which these commands then ignored (or crashed on)."""
    result = run_cli(f"digit_experiments.{command}", arguments, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"Error: Unknown config key `{unknown}`: no file in conf/ declares it" in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("command", COMMANDS[1:] + ("promote",))
def test_help_lists_only_the_groups_the_command_composes(command: str, tmp_path) -> None:
    """Hydra's help listed every training group (augment, model, ...), which these commands refuse."""
    result = run_cli(f"digit_experiments.{command}", ["--help"], cwd=tmp_path, timeout=120)
    groups = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = {line.split(":")[0] for line in groups.splitlines() if ": " in line}
    assert result.returncode == 0 and listed == ({"paths", "tracking", "dataset"} if command == "evaluate" else {"paths", "tracking"}), result.stdout
