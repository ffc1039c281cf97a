"""Command lines Hydra would answer with its lexer's message or a traceback are refused with the fix,
before Hydra starts: overrides its grammar cannot read, and two modes at once."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from digit_experiments.core.errors import ConfigError
from digit_experiments.core.command_line import check_command_line, hydra_arguments, refuse_unreadable_overrides
from helpers import run_cli


@pytest.mark.parametrize(("argv", "overrides"), [
    (["-m", "--cfg", "job", "seed=1,2", "model=cnn_bn"], ["seed=1,2", "model=cnn_bn"]),
    (["--config-name", "train", "-cd", "conf", "batch_size=8"], ["batch_size=8"]),
    (["--cfg"], []),  # a malformed flag is Hydra's to report
    (["-m", "--info", "defaults", "seed=1"], ["seed=1"]),
])
def test_the_overrides_are_found_among_hydras_flags(argv: list[str], overrides: list[str]) -> None:
    arguments = hydra_arguments(argv)
    assert (arguments.overrides if arguments else []) == overrides


@pytest.mark.parametrize(("override", "named", "value"), [
    ("paths.data_dir=/home/josé/digits", "contains 'é'", "/home/josé/digits"),
    ("tracking.run_name=a`b", "stops at character 20, '`'", "a`b"),
    ("tracking.run_name=it's", "stops at character 21, \"'\"", "it's"),
    ("batch_size=[1,2", "no viable alternative at input '[1,2'", "[1,2"),
])
def test_an_unreadable_override_is_named_with_a_quoted_form_that_hydra_reads(override: str, named: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_command_line(["-m", override])
    message = str(refused.value)
    assert f"Cannot read the override `{override}`" in message and named in message
    suggested = shlex.split(message.split("e.g. " if "e.g. " in message else "for the shell: ")[1].split(". The override grammar")[0])
    assert len(suggested) == 1, suggested  # one shell word, as the paragraph promises
    assert OverridesParser.create().parse_overrides(suggested)[0].value() == value


def test_overrides_hydra_reads_pass() -> None:
    refuse_unreadable_overrides(["seed=1,2,3", 'paths.data_dir="/home/josé/digits"', "+trainer.threads=1",
                                 "~callbacks.early_stopping", "optimizer.learning_rate=tag(log,interval(1e-4,1e-2))"])


@pytest.mark.parametrize("command", ["digit_experiments.train", "digit_experiments.predict"])
def test_the_commands_refuse_an_unquoted_non_ascii_path_in_one_paragraph(command: str, tmp_path: Path) -> None:
    refused = run_cli(command, ["--cfg", "job", "paths.data_dir=/home/josé/digits"], tmp_path)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "Error: Cannot read the override `paths.data_dir=/home/josé/digits`" in refused.stderr
    assert "Traceback" not in refused.stderr and "LexerNoViableAltException" not in refused.stderr

    quoted = run_cli(command, ["--cfg", "job", 'paths.data_dir="/home/josé/digits"'], tmp_path)
    assert quoted.returncode == 0, quoted.stderr[-2000:]
    assert "data_dir: /home/josé/digits" in quoted.stdout


@pytest.mark.parametrize(("argv", "named"), [
    (["-m", "--cfg", "job", "seed=1,2"], "-m/--multirun and --cfg job"),
    (["--cfg", "hydra", "--info"], "--cfg hydra and --info"),
])
def test_two_of_hydras_modes_at_once_are_refused(argv: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=f"asks Hydra for {named} at once"):
        check_command_line(argv)


def test_the_commands_refuse_two_modes_in_one_paragraph(tmp_path: Path) -> None:
    """``-m --cfg job`` got Hydra's ``ValueError`` traceback."""
    refused = run_cli("digit_experiments.evaluate", ["-m", "--cfg", "job", "model_uri=x"], tmp_path)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "Error: The command line asks Hydra for -m/--multirun and --cfg job at once" in refused.stderr
    assert "Traceback" not in refused.stderr
