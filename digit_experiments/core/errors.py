"""Errors a user can fix, reported as one paragraph instead of a traceback."""

import contextlib
import sys
from typing import Iterator, NoReturn


class UserError(Exception):
    """A mistake in the user's config, data or command line.

    The entry points print the message alone (no traceback) and exit with
    status 2, so every message must name the problem *and* the fix.
    """


class ConfigError(UserError):
    """An invalid configuration value or an unknown registry name."""


class DataError(UserError):
    """A dataset file that is missing, corrupt or malformed."""


class DataMissing(DataError):
    """A source's files are not there at all, as opposed to damaged: the one case an optional source is skipped for."""


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss and was stopped."""


def exit_for_user_error(error: UserError) -> NoReturn:
    """Print ``error`` as one paragraph on stderr and exit with status 2, without a traceback."""
    exit_with_paragraph(str(error), 2)


def exit_with_paragraph(message: str, status: int) -> NoReturn:
    """Print ``message`` as the ``Error:`` paragraph on stderr and exit with ``status``, without a traceback."""
    print(f"\nError: {message}", file=sys.stderr)
    sys.exit(status)


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type's name when it has none), at most ``limit`` characters.

    For quoting a library's exception inside a one-paragraph message.
    """
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


@contextlib.contextmanager
def user_errors_exit() -> Iterator[None]:
    """Turn a :class:`UserError` raised inside the block into :func:`exit_for_user_error`."""
    try:
        yield
    except UserError as error:
        exit_for_user_error(error)
