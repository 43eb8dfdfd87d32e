"""A strict, stdlib-only reader for the YAML subset that experiment and study files use.

``core/`` may not import PyYAML (DESIGN.md), yet ``python -m core.run`` reads YAML. This reads
what those files need, with the values ``yaml.safe_load`` gives: block mappings and ``- item``
sequences indented with spaces; ``[...]`` and ``{...}`` on one line; plain scalars resolved by
PyYAML's YAML 1.1 rules (int, float, bool, null, string); quoted strings; ``#`` comments; one
optional leading ``---``. Anything else (anchors, aliases, tags, ``|``/``>`` and other multi-line
scalars, several documents, tabs, duplicate keys, dates, base-60 numbers) raises a
:class:`ConfigError` with path ``"line N"``: a refusal beats a value that differs from PyYAML's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError

__all__ = ["MAX_BYTES", "load", "loads", "parse_value"]

MAX_BYTES = 1_000_000

# PyYAML's implicit resolvers (yaml/resolver.py), so that plain scalars mean the same there and here.
_BOOL = re.compile(r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF")
_FLOAT = re.compile(r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)? | \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)""", re.X)
_INT = re.compile(r"[-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+", re.X)
_NULL = re.compile(r"~|null|Null|NULL|")
# Plain scalars PyYAML turns into things outside the subset: refused, not read as strings.
_REFUSED = {
    "a base-60 number": re.compile(
        r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+ | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*", re.X),
    "a date": re.compile(r"""[0-9]{4}-[0-9]{2}-[0-9]{2} | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}
        :[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?""", re.X),
    "a merge key": re.compile(r"<<"),
    "a value key": re.compile(r"="),
}
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
            "_": "\xa0", "L": "\u2028", "P": "\u2029"}
# PyYAML's Reader refuses these; the rare Unicode line breaks too, so that a line ends at "\n".
_BAD_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")
_WHY = {"&": "anchors ('&') are unsupported", "*": "aliases ('*') are unsupported",
        "!": "tags ('!') are unsupported", "|": "block scalars ('|') are unsupported; use a quoted string",
        ">": "block scalars ('>') are unsupported; use a quoted string",
        "?": "complex keys ('?') are unsupported", "%": "directives ('%') are unsupported",
        "-": "a block sequence cannot start here; put '- item' on its own line"}


MAX_DEPTH = 100  # nesting levels of blocks or flow collections; study files need a handful

def load(path: str | Path) -> Any:
    """Read the YAML file at ``path`` (UTF-8, at most ``MAX_BYTES``) and return its value."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)  # no more: a huge file is refused, not read
    except OSError as err:
        raise ConfigError("", f"cannot read file: {err.strerror or err}") from None
    return loads(data)


def loads(text: str | bytes) -> Any:
    """Parse one YAML document of the supported subset (``bytes`` must be UTF-8)."""
    if len(text) > MAX_BYTES:
        raise ConfigError("", f"larger than {MAX_BYTES} bytes; expected a small config file")
    if isinstance(text, bytes):
        if b"\0" in text:
            raise ConfigError(_line_of(text, text.index(b"\0")), "NUL byte; expected a UTF-8 text file")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(_line_of(text, err.start), "not valid UTF-8; expected a UTF-8 text file") from None
    return _Parser(_lines(text.removeprefix("\ufeff"))).document()


def parse_value(text: str) -> Any:
    """One value as it may follow ``key:`` on a line: a scalar or a one-line flow collection."""
    scan = _Scan(text, 1)
    scan.spaces()
    value = None if scan.at_end() else scan.node()
    scan.expect_end()
    return value


def _line_of(data: bytes | str, index: int) -> str:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return f"line {data.count(newline, 0, index) + 1}"


@dataclass
class _Line:
    no: int
    indent: int
    text: str  # without the indentation


def _lines(text: str) -> list[_Line]:
    """The lines that carry content, checked for characters and document markers."""
    if bad := _BAD_CHAR.search(text):
        raise ConfigError(_line_of(text, bad.start()), f"unsupported character {bad.group()!r}")
    out: list[_Line] = []
    for no, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        body = raw.lstrip(" ")
        if body.startswith("\t"):
            raise ConfigError(f"line {no}", "tab in indentation; indent with spaces")
        if not body or body.startswith("#"):
            continue
        if raw[:1] == "%":
            raise ConfigError(f"line {no}", _WHY["%"])
        if raw[:3] in ("---", "...") and raw[3:4] in ("", " ", "\t"):
            rest = raw[3:].lstrip(" ")
            if raw[:3] == "---" and not out and (not rest or rest.startswith("#")):
                continue  # the optional start marker
            raise ConfigError(f"line {no}", f"{raw[:3]!r}: several documents or content after '---' are unsupported")
        out.append(_Line(no, len(raw) - len(body), body))
    return out


class _Scan:
    """A cursor over one line: scalars and flow collections, by PyYAML's scanner rules."""

    def __init__(self, text: str, no: int) -> None:
        self.s, self.no, self.pos, self.flow_level = text, no, 0, 0

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"line {self.no}", message)

    def peek(self, k: int = 0) -> str:
        return self.s[self.pos + k] if self.pos + k < len(self.s) else ""

    def spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1
        if self.peek() == "\t":
            raise self.error("tab character outside quotes; use spaces")

    def at_end(self) -> bool:
        return self.peek() in ("", "#")

    def expect_end(self) -> None:
        self.spaces()
        if not self.at_end():
            raise self.error(f"unexpected {self.peek()!r} at column {self.pos + 1}; expected end of line")

    def node(self) -> Any:
        """The scalar or flow collection starting here (spaces already skipped)."""
        ch = self.peek()
        if ch in ("[", "{"):
            return self.flow()
        if ch in ("'", '"'):
            return self.quoted()
        if self.plain_starts():
            return _resolve(self.plain(), self.no)
        raise self.error(_WHY.get(ch, f"unexpected {ch!r} at column {self.pos + 1}; expected a value"))

    def plain_starts(self) -> bool:
        ch, nxt = self.peek(), self.peek(1)
        return (ch != "" and ch not in " \t-?:,[]{}#&*!|>'\"%@`") or (
            nxt not in ("", " ", "\t") and (ch == "-" or (not self.flow_level and ch in "?:")))

    def plain(self) -> str:
        """A plain scalar: PyYAML's ``scan_plain`` break rules, within one line."""
        start = end = self.pos
        stops = ("", " ", "\t") + (tuple(",[]{}") if self.flow_level else ())
        while self.peek() != "#":  # words, separated by spaces, up to a " #" comment
            n = 0
            while not ((ch := self.peek(n)) in ("", " ", "\t") or (ch == ":" and self.peek(n + 1) in stops)
                       or (self.flow_level and ch in ",?[]{}")):
                n += 1
            if n == 0:
                break
            self.pos = end = self.pos + n
            self.spaces()
            if self.pos == end:
                break
        return self.s[start:end]

    def quoted(self) -> str:
        single = self.peek() == "'"
        match = (_SINGLE if single else _DOUBLE).match(self.s, self.pos)
        if not match:
            raise self.error("unterminated quoted string; multi-line strings are unsupported")
        self.pos = match.end()
        return match[1].replace("''", "'") if single else _ESCAPE.sub(self._unescape, match[1])

    def _unescape(self, match: re.Match) -> str:
        code = match[1]
        if len(code) > 1:
            return chr(int(code[1:], 16))
        if code not in _ESCAPES:
            raise self.error(f"bad escape '\\{code}' in a double-quoted string")
        return _ESCAPES[code]

    def flow(self) -> list | dict:
        """A ``[...]`` or ``{...}`` closed on this line; a trailing comma is allowed, as in PyYAML."""
        close = "]" if self.peek() == "[" else "}"
        out: Any = [] if close == "]" else {}
        self.pos += 1
        self.flow_level += 1
        if self.flow_level > MAX_DEPTH:  # each level is a Python frame: refuse before RecursionError
            raise self.error(f"collections nested deeper than {MAX_DEPTH} levels")
        while True:
            self.spaces()
            if self.at_end():
                raise self.error(f"missing {close!r}; flow collections must fit on one line")
            if self.peek() == close:
                break
            item = self.node()
            self.spaces()
            if isinstance(out, list):
                if self.peek() == ":":
                    raise self.error("'key: value' pairs inside [...] are unsupported; use {...}")
                out.append(item)
            elif isinstance(item, (list, dict)):
                raise self.error("a collection as a mapping key is unsupported")
            else:
                value = None
                if self.peek() == ":":
                    self.pos += 1
                    self.spaces()
                    value = None if self.at_end() or self.peek() in ",}" else self.node()
                    self.spaces()
                _add(out, item, value, self.no)
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != close and not self.at_end():
                raise self.error(f"unexpected {self.peek()!r} at column {self.pos + 1}; expected ',' or {close!r}")
        self.pos += 1
        self.flow_level -= 1
        return out


def _resolve(text: str, no: int) -> Any:
    """A plain scalar's value, as PyYAML's SafeLoader constructs it."""
    for what, pattern in _REFUSED.items():
        if pattern.fullmatch(text):
            raise ConfigError(f"line {no}", f"{text!r} is {what} in YAML 1.1, which is unsupported; quote it")
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text.lower() in ("yes", "true", "on")
    number = text.replace("_", "").lower()
    sign = -1 if number[:1] == "-" else 1
    number = number.lstrip("+-")
    try:
        if _FLOAT.fullmatch(text):
            return float("nan") if number == ".nan" else sign * float(number.replace(".inf", "inf"))
        if _INT.fullmatch(text):
            base = {"0b": 2, "0x": 16}.get(number[:2], 8 if number[:1] == "0" else 10)
            return sign * int(number[2:] if base in (2, 16) else number, base)
    except ValueError:
        raise ConfigError(f"line {no}", f"{text!r} is not a valid number") from None
    return text


def _is_item(line: _Line) -> bool:
    return line.text == "-" or line.text.startswith("- ")


def _add(mapping: dict, key: Any, value: Any, no: int) -> None:
    if key in mapping:
        raise ConfigError(f"line {no}", f"duplicate key {key!r}")
    mapping[key] = value


class _Parser:
    """The block structure, by indentation, over the content lines."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines, self.i, self.depth = lines, 0, 0

    def document(self) -> Any:
        value = self.node(self.lines[0].indent) if self.lines else None
        if self.i < len(self.lines):
            raise ConfigError(f"line {self.lines[self.i].no}", "line does not fit the structure above; "
                              "expected other indentation (multi-line scalars are unsupported)")
        return value

    def node(self, indent: int) -> Any:
        line = self.lines[self.i]
        self.depth += 1
        try:
            return self._node(line, indent)
        finally:
            self.depth -= 1

    def _node(self, line: _Line, indent: int) -> Any:
        if self.depth > MAX_DEPTH:
            raise ConfigError(f"line {line.no}", f"blocks nested deeper than {MAX_DEPTH} levels")
        if _is_item(line):
            return self.sequence(indent, indentless=False)
        if self.key(line)[1] is not None:
            return self.mapping(indent)
        self.i += 1
        scan = _Scan(line.text, line.no)
        value = scan.node()
        scan.expect_end()
        return value

    def key(self, line: _Line) -> tuple[Any, _Scan | None]:
        """``(key, scanner after the ':')`` if ``line`` starts a ``key: ...`` entry, else ``(None, None)``."""
        scan = _Scan(line.text, line.no)
        if scan.peek() in ("'", '"'):
            key = scan.quoted()
        elif scan.plain_starts():
            key = _resolve(scan.plain(), line.no)
        else:
            return None, None
        scan.spaces()
        if scan.peek() == ":" and scan.peek(1) in ("", " ", "\t"):
            scan.pos += 1
            return key, scan
        return None, None

    def child(self, indent: int, in_mapping: bool) -> Any:
        """The value of a ``key:`` or ``-`` with nothing after it: a deeper block, or null."""
        if self.i < len(self.lines):
            nxt = self.lines[self.i]
            if nxt.indent > indent:
                return self.node(nxt.indent)
            if in_mapping and nxt.indent == indent and _is_item(nxt):
                return self.sequence(indent, indentless=True)  # PyYAML's dump style: "key:\n- a\n- b"
        return None

    def mapping(self, indent: int) -> dict:
        out: dict = {}
        while self.i < len(self.lines) and self.lines[self.i].indent == indent:
            line = self.lines[self.i]
            key, scan = self.key(line)
            if scan is None:
                raise ConfigError(f"line {line.no}", "expected 'key: value' in this mapping")
            self.i += 1
            scan.spaces()
            if scan.at_end():
                _add(out, key, self.child(indent, in_mapping=True), line.no)
            else:
                _add(out, key, scan.node(), line.no)
                scan.expect_end()
        return out

    def sequence(self, indent: int, indentless: bool) -> list:
        out: list = []
        while self.i < len(self.lines) and self.lines[self.i].indent == indent:
            line = self.lines[self.i]
            if not _is_item(line):
                if indentless:
                    break  # back to the mapping that holds this sequence
                raise ConfigError(f"line {line.no}", "expected '- item' in this sequence")
            rest = line.text[1:].lstrip(" ")
            if not rest or rest.startswith("#"):
                self.i += 1
                out.append(self.child(indent, in_mapping=False))
            else:
                # The rest of the line is a block node at its own column, so that "- a: 1"
                # and a following "  b: 2" make one mapping, and "- - x" nests.
                col = indent + len(line.text) - len(rest)
                self.lines[self.i] = _Line(line.no, col, rest)
                out.append(self.node(col))
        return out
