"""Experiment kinds. Importing this package registers every kind with ``EXPERIMENTS``."""

from core.experiments import (
    dendritic,  # noqa: F401  (registers "dendritic")
    dendritic_population,  # noqa: F401  (adds the batched run_population of "dendritic")
    imp,  # noqa: F401  (registers "imp")
    imp_population,  # noqa: F401  (adds the batched run_population of "imp")
    synthetic,  # noqa: F401  (registers "synthetic")
)

__all__: list[str] = []
