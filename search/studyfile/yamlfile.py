"""Study files' YAML through the project's one guarded reader, :mod:`core.yamlfile`.

This keeps the names the study loader imports (``read_yaml``, ``SpecError``, ``MAX_FILE_BYTES``):
the reading itself (size, UTF-8, safe loader, aliases, depth, duplicate keys) lives in core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import ConfigError, yamlfile

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "SpecError", "read_yaml"]

MAX_FILE_BYTES = yamlfile.MAX_FILE_BYTES
MAX_DEPTH = yamlfile.MAX_DEPTH


class SpecError(ConfigError):
    """A study file is wrong; ``str(err)`` is the one line shown to the user."""


def read_yaml(path: Path) -> Any:
    """The study file at ``path`` as plain data (safe loader only), or a :class:`SpecError`."""
    try:
        return yamlfile.read_yaml(path, what="study file")
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
