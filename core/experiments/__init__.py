"""Experiment kinds. Importing this package registers every kind with ``EXPERIMENTS``."""

from core.experiments import synthetic  # noqa: F401  (registers "synthetic")

__all__: list[str] = []
