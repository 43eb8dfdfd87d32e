"""The one YAML reader of the project: experiment files (``python -m core.run``) and study files.

Size-capped, UTF-8 only, PyYAML's safe loader only (no ``!!python`` tags), and a first pass
over the parser's events that refuses what the safe loader would still accept but should not:
aliases ("billion laughs"), deep nesting (a ``RecursionError`` in PyYAML's composer) and
duplicate keys (silently last-one-wins in PyYAML). Values are what ``yaml.safe_load`` gives,
dates included (a ``datetime.date``, which the config checks then refuse where a number or a
string is expected). Every problem is a :class:`ConfigError` whose path is ``"line N"`` (or
empty for the file as a whole): one line for the user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "parse_yaml", "read_yaml"]

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 32  # nesting of YAML collections; study files need 4


def read_yaml(path: str | Path, *, what: str = "file") -> Any:
    """The YAML file at ``path`` as plain data; ``what`` names it in a read error ("study file")."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # no more: a huge file is refused, not read
    except OSError as err:
        raise ConfigError("", f"cannot read the {what}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError("", f"file is more than {MAX_FILE_BYTES} bytes; expected at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(_line(data, err.start), "not valid UTF-8; expected a UTF-8 text file") from None
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    """One YAML document (a whole file, or one ``--set`` value) as plain data, with the same guards."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError("", f"text is more than {MAX_FILE_BYTES} characters; expected at most {MAX_FILE_BYTES}")
    try:
        _check_events(text)
        return yaml.safe_load(text)
    except yaml.reader.ReaderError as err:  # a control character: no problem_mark, a two-line str()
        raise ConfigError(
            _line(text, err.position), f"unacceptable character #x{err.character:04x}; expected printable text"
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        last = text.count("\n") + (not text.endswith("\n"))  # the stream's end: on the last line, not after
        where = f"line {min(mark.line + 1, max(last, 1))}" if mark else ""
        problem = _one_line(err.problem or err.context or "unreadable")
        if "'\\t'" in problem:
            problem += "; indent with spaces"
        raise ConfigError(where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError("", f"invalid YAML: {_one_line(str(err))}") from None


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
            raise ConfigError(where, "YAML aliases (*name) are not allowed")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            if stack and stack[-1][0]:
                frame = stack[-1]
                if frame[1] and isinstance(event, yaml.ScalarEvent):
                    if event.value in frame[2]:
                        raise ConfigError(where, f"duplicate key {event.value!r}; expected each key once")
                    frame[2].add(event.value)
                frame[1] = not frame[1]
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), True, set()])
                if len(stack) > MAX_DEPTH:
                    raise ConfigError(where, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()


def _line(data: bytes | str, index: int) -> str:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return f"line {data.count(newline, 0, index) + 1}"


def _one_line(message: str) -> str:
    return " ".join(message.split())
