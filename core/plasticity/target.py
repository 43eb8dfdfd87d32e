"""The weight distribution a dendrite is resampled toward, and its distances to the live weights.

"The weights' distribution" (docs/definitions.md) is per dendrite: the empirical distribution of
the *signed* weights of its S synapses. The target is one symmetric law per dendrite, zero-mean:
``normal`` or ``laplace``, with standard deviation ``plasticity.target_std``, where 0 means the
He-normal scale of the dendrite's real fan-in, sqrt(2 / S) (S synapses, whatever
``model.init_fan_in`` initialised the network with). A Laplace of standard deviation s has scale
b = s / sqrt(2).

Two distances per dendrite, vectorised over all dendrites: Kolmogorov-Smirnov (the largest gap
between the empirical and the target CDF) and Wasserstein-1 (the area between the two quantile
functions, in weight units). Both are exact for an empirical sample against a continuous law.
Written here instead of calling scipy.stats: ``kstest`` and ``wasserstein_distance`` take one
sample at a time (and the latter only sample against sample), while a round or an epoch needs
all 128+ dendrites at once in torch; tests check both against scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.registry import Registry

__all__ = ["TARGETS", "Target", "target_of", "ks_to_target", "w1_to_target"]

TARGETS: Registry[str] = Registry("target distribution")
TARGETS.register("normal")("normal")
TARGETS.register("laplace")("laplace")

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Target:
    """A zero-mean normal or Laplace law of standard deviation ``std``."""

    family: str
    std: float

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        if self.family == "normal":
            return 0.5 * (1 + torch.erf(x / (self.std * _SQRT2)))
        b = self.std / _SQRT2
        return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / b))

    def icdf(self, u: torch.Tensor) -> torch.Tensor:
        if self.family == "normal":
            return self.std * torch.special.ndtri(u)
        b = self.std / _SQRT2
        c = u - 0.5
        return -b * torch.sign(c) * torch.log1p(-2 * c.abs())

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        if self.family == "normal":
            return torch.exp(-0.5 * (x / self.std) ** 2) / (self.std * math.sqrt(2 * math.pi))
        b = self.std / _SQRT2
        return torch.exp(-x.abs() / b) / (2 * b)

    def partial_mean(self, x: torch.Tensor) -> torch.Tensor:
        """∫_{-∞}^{x} t·pdf(t) dt (0 at ±∞): the piece of the mean below ``x``, for the exact W1."""
        if self.family == "normal":
            return -(self.std**2) * self.pdf(x)
        b = self.std / _SQRT2
        a = x.abs()
        # both branches are -(1/2)·e^{-|x|/b}·(|x| + b) with the sign of the side; finite at ±inf
        e = torch.exp(-a / b)
        return torch.where(x < 0, 0.5 * e * (-a - b), -0.5 * e * (a + b)).nan_to_num(0.0)

    def sample(self, shape: torch.Size, gen: torch.Generator | None, device, bound: torch.Tensor | None = None):
        """Draws by inverse CDF; ``bound`` (broadcast to ``shape``): the law truncated to |w| ≤ bound."""
        u = torch.rand(shape, generator=gen, device=device, dtype=torch.float64)
        lo = torch.zeros((), dtype=torch.float64, device=device)
        if bound is not None:  # u uniform on [F(-bound), F(bound)]: the exact truncated law
            lo = self.cdf(-bound.to(torch.float64))
        u = lo + u * (1 - 2 * lo)
        eps = torch.finfo(torch.float64).tiny
        return self.icdf(u.clamp(eps, 1 - 1e-16)).to(torch.get_default_dtype())


def target_of(pc, synapses: int) -> Target:
    """The target of a plasticity config for dendrites of ``synapses`` synapses."""
    family = TARGETS.get(pc.target, "plasticity.target")
    return Target(family, pc.target_std if pc.target_std > 0 else math.sqrt(2.0 / synapses))


@torch.no_grad()
def ks_to_target(weight: torch.Tensor, target: Target) -> torch.Tensor:
    """KS distance of each dendrite's weights (rows of ``weight``) to the target, shape ``(n_d,)``."""
    v = weight.detach().double().sort(1).values
    n = v.shape[1]
    cdf = target.cdf(v)
    i = torch.arange(1, n + 1, dtype=torch.float64, device=v.device)
    return torch.maximum(i / n - cdf, cdf - (i - 1) / n).amax(1)


@torch.no_grad()
def w1_to_target(weight: torch.Tensor, target: Target) -> torch.Tensor:
    """Wasserstein-1 distance of each dendrite's weights to the target, shape ``(n_d,)``.

    W1 = Σ_i ∫ over the target's i-th quantile interval [x_{i-1}, x_i] of |v_(i) − x| dF(x),
    with x_i = F⁻¹(i/n) and v_(i) the i-th smallest weight; each piece in closed form from the
    CDF and the partial mean (no grid).
    """
    v = weight.detach().double().sort(1).values
    n = v.shape[1]
    u = torch.arange(0, n + 1, dtype=torch.float64, device=v.device) / n
    edges = target.icdf(u)  # -inf ... +inf
    x0, x1 = edges[:-1].expand_as(v), edges[1:].expand_as(v)
    c = torch.minimum(torch.maximum(v, x0), x1)
    F, H = target.cdf, target.partial_mean
    below = v * (F(c) - F(x0)) - (H(c) - H(x0))
    above = (H(x1) - H(c)) - v * (F(x1) - F(c))
    return (below + above).sum(1)
