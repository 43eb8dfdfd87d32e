"""Errors meant for people: one line naming the field, the value and what was expected."""

from __future__ import annotations

__all__ = ["ConfigError", "Diverged"]


class ConfigError(ValueError):
    """A hyperparameter or file field is wrong. ``path`` is the dotted name of the field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def under(self, prefix: str) -> ConfigError:
        """The same error with its path placed under ``prefix`` (e.g. ``experiment``)."""
        return ConfigError(f"{prefix}.{self.path}" if self.path else prefix, self.message)


class Diverged(RuntimeError):
    """Training produced a non-finite loss; the run cannot continue meaningfully."""
