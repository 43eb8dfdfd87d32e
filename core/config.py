"""Frozen-dataclass configs: build from plain dicts with typed, path-named errors.

Every experiment's hyperparameters are a ``@dataclass(frozen=True, kw_only=True)`` whose
``__post_init__`` checks its own invariants with :func:`check`. This module turns the plain
mappings that come from files and from Optuna into such configs, and back:

* :func:`from_dict` rejects unknown keys and wrong types, naming the dotted path;
* :func:`replace_path` sets one dotted field (``"train.lr"``) on a frozen config;
* :func:`config_hash` is a run's identity: a hash of the full config, defaults included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from core.errors import ConfigError

__all__ = ["check", "from_dict", "to_dict", "config_hash", "replace_path", "replace_paths", "field_paths", "coerce"]

C = TypeVar("C")


def check(condition: bool, path: str, message: str) -> None:
    """Raise ``ConfigError(path, message)`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(path, message)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int → float allowed, list → tuple)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")
        elem = typing.get_args(tp)[0]
        return tuple(coerce(v, elem, f"{path}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")


def from_dict(cls: type[C], data: Mapping[str, Any], path: str = "") -> C:
    """Build the frozen config ``cls`` from ``data``; errors name the dotted path."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a mapping, got {data!r}")
    hints = _hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}", f"unknown key; expected one of {', '.join(sorted(fields))}")
    kwargs = {k: coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise (err.under(path) if path else err) from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(cfg: Any) -> str:
    """Identity of a run: the hash of its class name and full config, defaults included."""
    blob = json.dumps({"type": type(cfg).__name__, "config": to_dict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def field_paths(cls: type) -> dict[str, Any]:
    """Every settable dotted leaf path of a config class, with its annotation."""
    out: dict[str, Any] = {}
    for name, tp in _hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out.update({f"{name}.{k}": v for k, v in field_paths(tp).items()})
        else:
            out[name] = tp
    return out


def replace_path(cfg: C, dotted: str, value: Any, _root: str = "") -> C:
    """A copy of ``cfg`` with the field at ``dotted`` set to ``value`` (type-checked)."""
    head, _, rest = dotted.partition(".")
    where = f"{_root}.{head}" if _root else head
    hints = _hints(type(cfg))
    if head not in hints:
        raise ConfigError(where, f"unknown key; expected one of {', '.join(sorted(hints))}")
    if rest:
        inner = getattr(cfg, head)
        if not dataclasses.is_dataclass(inner):
            raise ConfigError(where, "is not a section, it has no sub-keys")
        new = replace_path(inner, rest, value, where)
    else:
        new = coerce(value, hints[head], where)
    try:
        return dataclasses.replace(cfg, **{head: new})
    except ConfigError as err:
        raise (err.under(_root) if _root else err) from None


def replace_paths(cfg: C, values: Mapping[str, Any]) -> C:
    """A copy of ``cfg`` with every dotted field in ``values`` set at once.

    Unlike chained :func:`replace_path` calls, invariants that tie fields together (a target
    parameter count and the widths that bound it) are checked once, on the final combination.
    """
    paths = field_paths(type(cfg))
    nested = to_dict(cfg)
    for dotted, value in values.items():
        if dotted not in paths:
            raise ConfigError(dotted, f"unknown key; expected one of {', '.join(sorted(paths))}")
        *parents, last = dotted.split(".")
        node = nested
        for key in parents:
            node = node[key]
        node[last] = value
    return from_dict(type(cfg), nested)
