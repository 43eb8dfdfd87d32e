"""A tiny named registry: ``@REG.register("name")`` then ``REG.get("name")``.

Unknown names raise a :class:`ConfigError` that lists the valid choices, so a typo in a
YAML file turns into a one-line message instead of a silent default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from core.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind (criteria, schedules, experiments, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def replace(self, name: str, obj: T) -> None:
        """Swap the object registered as ``name`` (e.g. to attach an optional capability)."""
        self.get(name)
        self._items[name] = obj

    def get(self, name: str, path: str = "") -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(
                path or self.kind, f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
