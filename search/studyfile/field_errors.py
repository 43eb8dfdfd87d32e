"""Pydantic's validation errors as the project's one line: ``DOTTED.PATH: expected X, got Y``.

Pydantic reports every error with a location tuple; the first one is turned into the dotted
path of the field (``study.enqueue[0]``, with a discriminated union's tag left out) and a
message in the words the rest of the service uses. Validators that raise a
:class:`~core.errors.ConfigError` keep their own message; their path goes under the location.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any

from pydantic import ValidationError

from core.errors import ConfigError

__all__ = ["one_line"]

_MAPPING = {"dataclass_type", "dataclass_exact_type", "model_type", "model_attributes_type", "dict_type"}
_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument", "invalid_key"}
_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
}


def _strip(tp: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _fields(cls: Any) -> dict[str, Any]:
    """A pydantic dataclass's fields by the name the file uses (its alias, if any)."""
    info = getattr(cls, "__pydantic_fields__", None) or {}
    return {(f.alias or name): f.annotation for name, f in info.items()}


def _tag(tp: Any) -> str | None:
    hints = _fields(tp)
    args = typing.get_args(_strip(hints.get("type")))
    return args[0] if args else None


def _walk(root: Any, loc: tuple) -> tuple[Any, list[str]]:
    """The type at ``loc`` below ``root``, and the parts of ``loc`` that name fields (tags dropped)."""
    tp, names = root, []
    for part in loc:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        members = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else ()
        if members and all(dataclasses.is_dataclass(m) for m in members):
            tp = next((m for m in members if _tag(m) == part), None)
            continue  # the discriminator's value, not a field name
        names.append(part)
        if dataclasses.is_dataclass(tp):
            tp = _fields(tp).get(part)
        elif origin in (dict, tuple, list) or origin is collections.abc.Mapping:
            tp = typing.get_args(tp)[-1] if typing.get_args(tp) else Any
        else:
            tp = None
    return _strip(tp), names


def _of_mappings(tp: Any) -> bool:
    """Whether ``tp`` is a list or tuple of mappings."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (list, tuple) else ()
    elem = _strip(args[0]) if args else None
    return elem is dict or typing.get_origin(elem) in (dict, collections.abc.Mapping)


def _dotted(parts: list) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def one_line(err: ValidationError, root: type) -> tuple[str, str]:
    """``(path, message)`` for the first error of ``err``, raised validating ``root``."""
    errors = err.errors(include_url=False)
    # an unknown key is most often a misspelt one: name it rather than the key it leaves missing
    e = next((x for x in errors if x["type"] in _UNKNOWN), errors[0])
    kind, loc, ctx, got = e["type"], tuple(e["loc"]), e.get("ctx") or {}, e.get("input")
    cause = ctx.get("error")
    if kind == "value_error" and isinstance(cause, ConfigError):
        base = _dotted(_walk(root, loc)[1])
        return (f"{base}.{cause.path}" if base and cause.path else base or cause.path), cause.message
    if loc and loc[-1] == "[key]":  # a mapping key that is not text (YAML's `1:`, `true:`)
        kind, loc = ("invalid_key", loc[:-1])
    if kind in _UNKNOWN:
        parent, names = _walk(root, loc[:-1])
        what = "section" if not names else "key"
        allowed = ", ".join(sorted(_fields(parent))) if dataclasses.is_dataclass(parent) else ""
        if kind == "invalid_key" and not allowed:
            return f"{_dotted(names)}.{loc[-1]}", f"expected a text key, got {loc[-1]!r}"
        path = f"{_dotted(names)}.{loc[-1]}" if names else str(loc[-1])
        return path, f"unknown {what}" + (f"; expected one of {allowed}" if allowed else "")
    tp, names = _walk(root, loc)
    path = _dotted(names)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx.get("discriminator", "").strip("'")
        tags = ", ".join(filter(None, (_tag(m) for m in typing.get_args(_strip(_walk(root, loc)[0]))))) or ctx.get(
            "expected_tags", ""
        )
        tag = got.get(key, ctx.get("tag")) if isinstance(got, dict) else ctx.get("tag")
        return f"{path}.{key}", (
            f"expected one of {tags}, got {tag!r}" if tag is not None else f"missing; expected one of {tags}"
        )
    if kind == "missing":
        return path, "missing section" if len(names) == 1 else "missing; this key is required"
    if kind in _MAPPING:
        if not names:
            return "", f"expected a mapping with sections {', '.join(sorted(_fields(root)))}, got {got!r}"
        tags = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
        return path, f"expected a mapping{' with ' + repr('type') if any(map(_tag, tags)) else ''}, got {got!r}"
    if kind == "literal_error":
        return path, f"expected {ctx.get('expected')}, got {got!r}"
    if kind == "finite_number":
        return path, f"expected a finite number, got {got!r}"
    if kind == "too_short":
        least = ctx.get("min_length")
        return path, f"expected a non-empty list, got {got!r}" if least == 1 else f"expected at least {least} items"
    if kind == "string_too_short":
        return path, f"expected a non-empty string, got {got!r}"
    prefix = kind.split("_")[0]
    if prefix in ("list", "tuple") and _of_mappings(tp):
        return path, f"expected a list of mappings, got {got!r}"
    if prefix in _KINDS and (kind.endswith(("_type", "_parsing")) or kind == "int_from_float"):
        return path, f"expected {_KINDS[prefix]}, got {got!r}"
    return path, f"{e['msg']}, got {got!r}"
