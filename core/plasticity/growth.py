"""Growth rules: *where* the replacement synapses of a dendrite connect.

``rule(layer, k, gen)`` returns ``(n_dendrites, k)`` distinct input indices per dendrite,
none of which the dendrite is connected to now (so dropped and grown sets are disjoint and
no dendrite gets a duplicate synapse). Vectorised over all dendrites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from core.nets.dendritic import DendriticLayer, lrf_probabilities, sample_without_replacement
from core.registry import Registry

__all__ = ["GROWTH", "GrowthRule", "grow_uniform", "Lrf"]

GrowthRule = Callable[[DendriticLayer, int, "torch.Generator | None"], torch.Tensor]
GROWTH: Registry[Any] = Registry("growth rule")


class _Uniform:
    """Uniform over the inputs the dendrite is not connected to."""

    def __call__(self, layer: DendriticLayer, k: int, gen: torch.Generator | None) -> torch.Tensor:
        return sample_without_replacement((~layer.connection_mask()).float(), k, gen)


grow_uniform = _Uniform()
GROWTH.register("uniform")(lambda pc: grow_uniform)


class Lrf:
    """Gaussian of width ``sigma`` pixels around the dendrite's centre (local receptive field)."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma
        self._probs: torch.Tensor | None = None

    def __call__(self, layer: DendriticLayer, k: int, gen: torch.Generator | None) -> torch.Tensor:
        if self._probs is None or self._probs.shape[0] != layer.n_dendrites:
            self._probs = lrf_probabilities(layer.centres, layer.n_inputs, self.sigma)
        return sample_without_replacement(self._probs * ~layer.connection_mask(), k, gen)


GROWTH.register("lrf")(lambda pc: Lrf(pc.growth_sigma))
