"""Networks: the dendritic ANN (gather formulation) and dense baselines."""

from core.nets.dendritic import DANN, DendriticLayer
from core.nets.dense import DenseMLP
from core.nets.mlp import MaskedMLP

__all__ = ["DANN", "DendriticLayer", "DenseMLP", "MaskedMLP"]
