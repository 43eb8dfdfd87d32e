"""Experiment kinds. Importing this package registers every kind with ``EXPERIMENTS``."""

from core.experiments import synthetic  # noqa: F401  (registers "synthetic")
from core.experiments import dendritic  # noqa: F401  (registers "dendritic")
from core.experiments import imp  # noqa: F401  (registers "imp")
from core.experiments import imp_population  # noqa: F401  (adds the batched run_population of "imp")
from core.experiments import dendritic_population  # noqa: F401  (adds the batched run_population of "dendritic")

__all__: list[str] = []
