"""What every command-line entry point of the service shares: the one-line error for bad input."""

from __future__ import annotations

import sys

from search.storage import StorageUnavailable

__all__ = ["input_error"]


def input_error(study_file: str, err: Exception) -> int:
    """Print bad input as the one line ``error: FILE: FIELD: MESSAGE`` on stderr; return exit status 2.
    ``err`` is a ConfigError/SpecError (its message names the field), a StorageUnavailable
    (the field is study.storage) or an entry point's own error that names its option."""
    field = "study.storage: " if isinstance(err, StorageUnavailable) else ""
    print(f"error: {study_file}: {field}{err}", file=sys.stderr)
    return 2
