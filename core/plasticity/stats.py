"""Per-dendrite statistics of the synapse weights (entropy, distance to the He prior)."""

from __future__ import annotations

import math

import torch

__all__ = ["weight_entropy", "ks_to_normal"]


def weight_entropy(weight: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each dendrite's normalised |w| distribution, shape ``(n_dendrites,)``.

    p_j = |w_j| / Σ|w|. Maximal (log S) when all synapses are equally strong, low when a
    few synapses carry the dendrite: the user's "entropy of the weight distribution for a
    dendrite", compared at the start and the end of training.
    """
    a = weight.detach().abs()
    p = a / a.sum(1, keepdim=True).clamp_min(1e-12)
    return -(p * torch.log(p.clamp_min(1e-30))).sum(1)


def ks_to_normal(values: torch.Tensor, std: float) -> float:
    """Kolmogorov-Smirnov distance between the values and N(0, std²) (e.g. the He prior)."""
    v = values.detach().flatten().double().sort().values.cpu()
    n = v.numel()
    cdf = 0.5 * (1 + torch.erf(v / (std * math.sqrt(2))))
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max())
