"""A command line Hydra would answer with a traceback or its lexer's message, refused with the fix.

Hydra has no hook before it reads its command line, so
:func:`digit_experiments.core.startup.hydra_command` calls :func:`check_command_line`
first. It reads the command line with Hydra's own parsers and refuses, in one
paragraph:

* an override Hydra's grammar cannot read. Hydra prints its lexer's message
  (``LexerNoViableAltException: paths.data_dir=/home/josé/digits`` and a caret),
  which names neither the cause nor the fix. Most such overrides are a value
  that needs quotes: a non-ASCII letter, or a character the grammar reserves;
* two of Hydra's modes at once (``-m --cfg job``), which Hydra answers with a
  ``ValueError`` traceback.
"""

from __future__ import annotations

import argparse
from typing import NoReturn, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException

from digit_experiments.core.errors import ConfigError

#: Where Hydra documents the override grammar.
GRAMMAR_URL = "https://hydra.cc/docs/advanced/override_grammar/basic/"


class _UnreadableCommandLine(Exception):
    """Hydra's own argument parser refused the command line; Hydra will say why itself."""


def check_command_line(argv: Sequence[str]) -> None:
    """Refuse a command line that Hydra would answer with a traceback or its lexer's message.

    Args:
        argv: The command line without the program name.

    Raises:
        ConfigError: naming the problem and the command line that works.
    """
    arguments = hydra_arguments(argv)
    if arguments is None:
        return
    refuse_conflicting_modes(arguments)
    refuse_unreadable_overrides(list(arguments.overrides or []))


def hydra_arguments(argv: Sequence[str]) -> argparse.Namespace | None:
    """A Hydra command line read by Hydra's own argument parser: its flags and its overrides.

    Args:
        argv: The command line without the program name.

    Returns:
        The parsed flags and ``overrides``; None when Hydra's flags themselves are malformed, which Hydra reports.
    """
    from hydra._internal.utils import get_args_parser  # Hydra's own parser: its flags are not public API

    parser = get_args_parser()

    def refuse(message: str) -> NoReturn:
        raise _UnreadableCommandLine(message)

    parser.error = refuse  # type: ignore[method-assign]  # argparse would print and exit
    try:
        known, _ = parser.parse_known_args(list(argv))
    except (_UnreadableCommandLine, argparse.ArgumentError):
        return None
    return known


def refuse_conflicting_modes(arguments: argparse.Namespace) -> None:
    """Raise a :class:`ConfigError` when the command line asks Hydra for two modes at once.

    Hydra runs one of ``--run``, ``--multirun``, ``--cfg``, ``--info`` and ``--shell-completion``;
    ``-m --cfg job``, a natural way to see a sweep's config, got a ``ValueError`` traceback.
    """
    modes = [flag for flag, given in (("-m/--multirun", arguments.multirun), ("--run", arguments.run),
                                      (f"--cfg {arguments.cfg}", arguments.cfg), ("--info", arguments.info is not None),
                                      ("--shell-completion", arguments.shell_completion)) if given]
    if len(modes) > 1:
        raise ConfigError(
            f"The command line asks Hydra for {' and '.join(modes)} at once, and Hydra runs one of them. Keep one: "
            "without `-m`, `--cfg job` prints the config of one run (give each swept key one value); without `--cfg`, "
            "`-m` runs the sweep."
        )


def refuse_unreadable_overrides(overrides: Sequence[str]) -> None:
    """Raise a :class:`ConfigError` naming the first override Hydra's grammar cannot read, and the fix.

    Args:
        overrides: The command line's overrides (``key=value`` words).

    Raises:
        ConfigError: for an override that does not parse; one that parses is left to Hydra.
    """
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except OverrideParseException as error:
            raise ConfigError(_explain(override, error)) from None


def _explain(override: str, error: OverrideParseException) -> str:
    """The paragraph for an ``override`` Hydra cannot parse: what is wrong in it and how to correct it."""
    key, _, value = override.partition("=")
    quoted = _shell_quoted(key, value)
    non_ascii = sorted({character for character in value if not character.isascii()})
    if non_ascii and "'" not in value and '"' not in value:
        return (f"Cannot read the override `{override}`: its value contains "
                f"{', '.join(repr(character) for character in non_ascii)}, and Hydra reads only ASCII letters, digits "
                f"and a few symbols without quotes. Quote the value for Hydra, and the whole override for the shell: {quoted}. "
                f"The override grammar: {GRAMMAR_URL}")
    return (f"Cannot read the override `{override}`: {_hydra_reason(override, str(error))}. Correct it; a value with "
            f"characters the grammar reserves (such as `=`, `,`, brackets or quotes) goes in quotes, e.g. {quoted}. "
            f"The override grammar: {GRAMMAR_URL}")


def _shell_quoted(key: str, value: str) -> str:
    """``key=value`` with the value in Hydra's double quotes, the whole in the shell's single quotes,
    which keep `$`, backticks and `!` as they are; a value holding ' takes the shell's double quotes."""
    if "'" in value:
        return f"\"{key}=\\\"{value}\\\"\""
    return f"'{key}=\"{value}\"'"


def _hydra_reason(override: str, message: str) -> str:
    """Hydra's reason in one line: its lexer's message is the override with a caret under the character it stopped at."""
    lines = message.splitlines()
    lexer_prefix = "LexerNoViableAltException: "
    if lines[0].startswith(lexer_prefix) and len(lines) > 1 and lines[1].strip() == "^":
        position = len(lines[1].rstrip()) - 1 - len(lexer_prefix)
        if 0 <= position < len(override):
            return f"Hydra's grammar stops at character {position + 1}, {override[position]!r}"
    return f"Hydra says: {' '.join(lines[0].split())}"
