"""Errors meant for people: one line naming the field, the value and what was expected."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "Diverged"]


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


class DataError(RuntimeError):
    """A data file is missing, truncated or not the original: the message names the file and what
    to do. Every trial would fail alike, so drivers check before training (``Experiment.check_data``)."""
