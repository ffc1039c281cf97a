"""Errors a user can fix, reported as one paragraph instead of a traceback."""


class UserError(Exception):
    """A mistake in the user's config, data or command line.

    The entry points print the message alone (no traceback) and exit with
    status 2, so every message must name the problem *and* the fix.
    """


class ConfigError(UserError):
    """An invalid configuration value or an unknown registry name."""


class DataError(UserError):
    """A dataset file that is missing, corrupt or malformed."""


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss and was stopped."""
