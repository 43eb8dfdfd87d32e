"""Drop criteria: *which* synapses of each dendrite are removed in a resampling round.

A criterion only ranks: ``scores(weight)`` returns a ``(n_dendrites, synapses)`` tensor where
a higher score means "drop first"; the rewire step removes the ``k[d]`` highest-scoring
synapses of dendrite ``d``. How many (the rate schedule) and when (the trigger) live
elsewhere. Criteria that keep per-synapse state update it in ``observe`` (after every
optimizer step) and reset it for regrown synapses in ``regrown``.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch.nn import functional as F

from core.plasticity.target import Target, target_of
from core.registry import Registry

__all__ = ["CRITERIA", "Criterion", "Smallest", "Stochastic", "EMA", "Distribution"]


class Criterion(Protocol):
    def observe(self, weight: torch.Tensor) -> None: ...
    def scores(self, weight: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor: ...
    def regrown(self, drop: torch.Tensor, weight: torch.Tensor) -> None: ...


# name -> factory(plasticity_config) -> Criterion; a factory because some criteria keep state
CRITERIA: Registry[Any] = Registry("drop criterion")


class Smallest:
    """The user's flat rule: drop the k smallest |w| of each dendrite."""

    def observe(self, weight: torch.Tensor) -> None:
        pass

    def scores(self, weight: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return -weight.abs()

    def regrown(self, drop: torch.Tensor, weight: torch.Tensor) -> None:
        pass


class Stochastic:
    """Drop k synapses per dendrite at random, with probability ∝ exp(-|w| / (T · mean|w|)).

    Small weights are very likely to go, big ones unlikely but possible; the number removed
    is exactly the scheduled k (sampling without replacement by the Gumbel top-k trick), so
    the expected count matches the rate. ``temperature`` T is relative to the dendrite's
    mean |w|, so the rule does not depend on the weight scale.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        self.temperature = temperature

    def observe(self, weight: torch.Tensor) -> None:
        pass

    def scores(self, weight: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        a = weight.abs()
        logits = -a / (self.temperature * a.mean(1, keepdim=True) + 1e-12)
        u = torch.rand(a.shape, generator=gen, device=a.device).clamp_(1e-20, 1.0)
        return logits - torch.log(-torch.log(u))

    def regrown(self, drop: torch.Tensor, weight: torch.Tensor) -> None:
        pass


class EMA:
    """Rank by a running (exponential moving) average of |w| instead of its current value.

    A synapse whose weight crosses zero on one step is not dropped for it; one that stays
    small is. A regrown synapse starts its average at its new |w|.
    """

    def __init__(self, beta: float = 0.99) -> None:
        self.beta = beta
        self.avg: torch.Tensor | None = None

    @torch.no_grad()
    def observe(self, weight: torch.Tensor) -> None:
        if self.avg is None:
            self.avg = weight.abs().clone()
        else:
            self.avg.mul_(self.beta).add_(weight.abs(), alpha=1 - self.beta)

    def scores(self, weight: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return -(self.avg if self.avg is not None else weight.abs())

    @torch.no_grad()
    def regrown(self, drop: torch.Tensor, weight: torch.Tensor) -> None:
        if self.avg is not None:
            self.avg = torch.where(drop, weight.abs(), self.avg)


class Distribution:
    """Drop where the dendrite's weights are denser than the target law (``plasticity.target``).

    The target's line is cut into ``bins`` intervals of equal target mass, so each should hold
    S / bins of the dendrite's S synapses. A bin holding n synapses has an excess of n - S/bins;
    its synapses are ranked by |w| (smallest first) and the one at rank r scores the excess left
    after the r before it went, n - S/bins - r. Taking the k highest scores is then dropping one
    synapse at a time from the currently most overfull bin, so the survivors (and synapses grown
    from the target, ``new_weight_init: target``) move toward the target. Equal scores (e.g. where
    the histogram agrees with the target) go to the smaller |w|: the tie-break term is < 1, below
    the gap between distinct scores.
    """

    def __init__(self, pc) -> None:
        self.pc, self.bins = pc, pc.target_bins
        self._target: Target | None = None

    def observe(self, weight: torch.Tensor) -> None:
        pass

    def scores(self, weight: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        n_syn = weight.shape[1]
        if self._target is None:
            self._target = target_of(self.pc, n_syn)
        a = weight.abs()
        b = (self._target.cdf(weight) * self.bins).long().clamp_(0, self.bins - 1)
        excess = F.one_hot(b, self.bins).sum(1).gather(1, b) - n_syn / self.bins
        order = a.argsort(dim=1, stable=True)  # smallest |w| first within every bin
        hot = F.one_hot(b.gather(1, order), self.bins)
        rank_sorted = (hot.cumsum(1) * hot).sum(2) - 1
        rank = torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)
        return (excess - rank) - 0.5 * a / (a.amax(1, keepdim=True) + 1e-12)

    def regrown(self, drop: torch.Tensor, weight: torch.Tensor) -> None:
        pass


CRITERIA.register("smallest")(lambda pc: Smallest())
CRITERIA.register("stochastic")(lambda pc: Stochastic(pc.temperature))
CRITERIA.register("ema")(lambda pc: EMA(pc.ema_beta))
CRITERIA.register("distribution")(Distribution)
