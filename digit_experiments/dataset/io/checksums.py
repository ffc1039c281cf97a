"""SHA-256 checksums of data files, the basis of verification and cache keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

from digit_experiments.core.errors import DataError


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, how_to_fix: str) -> str:
    """Check ``path`` against its known checksum; raise a DataError naming the file if not.

    Returns:
        The actual digest (equal to ``expected``).
    """
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"Data file {path} is corrupt or not the expected version: its sha256 is {actual}, "
            f"expected {expected}. {how_to_fix}"
        )
    return actual
