"""Networks: the dendritic ANN (gather formulation) and dense baselines."""

from core.nets.dendritic import DANN, DendriticLayer
from core.nets.dense import DenseMLP

__all__ = ["DANN", "DendriticLayer", "DenseMLP"]
