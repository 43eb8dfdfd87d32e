"""The value a regrown synapse starts with: ``zero``, ``he`` (N(0, 2/fan_in)) or ``small``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from core.registry import Registry

__all__ = ["NEW_WEIGHTS", "NewWeights"]

# (shape, he_std, generator, device) -> tensor of candidate values
NewWeights = Callable[[torch.Size, float, "torch.Generator | None", torch.device], torch.Tensor]
NEW_WEIGHTS: Registry[NewWeights] = Registry("new weight init")


@NEW_WEIGHTS.register("zero")
def zero(shape, he_std, gen, device) -> torch.Tensor:
    return torch.zeros(shape, device=device)


@NEW_WEIGHTS.register("he")
def he(shape, he_std, gen, device) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=device) * he_std


@NEW_WEIGHTS.register("small")
def small(shape, he_std, gen, device) -> torch.Tensor:
    """A tenth of the He scale: the new synapse starts nearly silent but not exactly at 0."""
    return torch.randn(shape, generator=gen, device=device) * (0.1 * he_std)
