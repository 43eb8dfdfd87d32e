"""Reading a study file's YAML safely: the only place in ``search/`` that parses YAML text.

Size-capped, UTF-8 only, PyYAML's safe loader only (no ``!!python`` tags), and a first pass
over the parser's events that refuses what the safe loader would still accept but should not:
aliases ("billion laughs"), deep nesting (a ``RecursionError`` in PyYAML's composer) and
duplicate keys (silently last-one-wins in PyYAML).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core import ConfigError
from core.config import check

__all__ = ["SpecError", "read_yaml", "MAX_FILE_BYTES", "MAX_DEPTH"]

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 32  # nesting of YAML collections; study files need 4


class SpecError(ConfigError):
    """A study file is wrong; ``str(err)`` is the one line shown to the user."""


def _check_events(text: str) -> None:
    """One pass over the YAML events (PyYAML's parser keeps its own stack, it does not recurse).

    Refused: aliases (the route to "billion laughs" documents), nesting deeper than
    ``MAX_DEPTH`` (PyYAML's composer recurses and would hit Python's recursion limit) and
    duplicate keys (PyYAML keeps the last one silently).
    """
    stack: list[list] = []  # per open collection: [is_mapping, next_is_key, keys seen]
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        where = f"line {event.start_mark.line + 1}"
        if isinstance(event, yaml.AliasEvent):
            raise SpecError(where, "YAML aliases (*name) are not allowed")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            if stack and stack[-1][0]:
                frame = stack[-1]
                if frame[1] and isinstance(event, yaml.ScalarEvent):
                    check(event.value not in frame[2], where,
                          f"duplicate key {event.value!r}; expected each key once")
                    frame[2].add(event.value)
                frame[1] = not frame[1]
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), True, set()])
                check(len(stack) <= MAX_DEPTH, where, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()


def read_yaml(path: Path) -> Any:
    """The study file at ``path`` as plain data (safe loader only), or a :class:`SpecError`."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SpecError("", f"cannot read the study file: {err.strerror or err}") from None
    check(len(data) <= MAX_FILE_BYTES, "", f"file is {len(data)} bytes; expected at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("", "expected a UTF-8 text file") from None
    try:
        _check_events(text)
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise SpecError(where, f"invalid YAML: {getattr(err, 'problem', None) or err}") from None
