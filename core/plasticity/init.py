"""The value a regrown synapse starts with: ``zero``, ``he`` (N(0, he_std²)), ``small`` or ``target``.

``NEW_WEIGHTS`` maps a name to a factory ``(plasticity_config) -> NewWeights`` (a factory because
``target`` reads its law and truncation from the config). A ``NewWeights`` takes the layer's
current weights ``(n_dendrites, S)`` (the live values, before the round replaces any), the
layer's He scale and the run's generator, and returns one candidate value per slot; the rewire
step keeps the candidates of the moved slots only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from core.plasticity.target import Target, target_of
from core.registry import Registry

__all__ = ["NEW_WEIGHTS", "NewWeights", "FromTarget"]

NewWeights = Callable[[torch.Tensor, float, "torch.Generator | None"], torch.Tensor]
NEW_WEIGHTS: Registry[Callable[[Any], NewWeights]] = Registry("new weight init")


def zero(weight, he_std, gen) -> torch.Tensor:
    return torch.zeros_like(weight)


def he(weight, he_std, gen) -> torch.Tensor:
    return torch.randn(weight.shape, generator=gen, device=weight.device) * he_std


def small(weight, he_std, gen) -> torch.Tensor:
    """A tenth of the He scale: the new synapse starts nearly silent but not exactly at 0."""
    return torch.randn(weight.shape, generator=gen, device=weight.device) * (0.1 * he_std)


class FromTarget:
    """Draws from the dendrite's target law (``plasticity.target``, ``target_std``).

    ``truncate`` q in (0, 1]: the law truncated to |w| ≤ the q-quantile of the dendrite's live |w|
    (resampling from the init distribution keeps plasticity, resetting to its mean hurts it:
    Hernandez-Garcia et al. 2025; truncating keeps a new synapse from starting above the
    dendrite's own strong ones). 0: no truncation.
    """

    def __init__(self, pc) -> None:
        self.pc, self.truncate = pc, pc.target_truncate
        self._target: Target | None = None

    def __call__(self, weight: torch.Tensor, he_std: float, gen: torch.Generator | None) -> torch.Tensor:
        if self._target is None:
            self._target = target_of(self.pc, weight.shape[1])
        bound = None
        if self.truncate > 0:
            live = weight.detach().abs().double()
            bound = torch.quantile(live, self.truncate, dim=1, keepdim=True).clamp_min(1e-12)
        return self._target.sample(weight.shape, gen, weight.device, bound)


NEW_WEIGHTS.register("zero")(lambda pc: zero)
NEW_WEIGHTS.register("he")(lambda pc: he)
NEW_WEIGHTS.register("small")(lambda pc: small)
NEW_WEIGHTS.register("target")(FromTarget)
