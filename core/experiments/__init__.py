"""Experiment kinds. Importing this package registers every kind with ``EXPERIMENTS``."""

from core.experiments import synthetic  # noqa: F401  (registers "synthetic")
from core.experiments import dendritic  # noqa: F401  (registers "dendritic")

__all__: list[str] = []
