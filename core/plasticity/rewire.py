"""The rewire step, written once: drop the top-scored synapses of each dendrite, grow the
same number at new inputs, re-initialise their weights. Vectorised over all dendrites.

Invariants checked on every call (cheap next to a training step, and the whole point of a
structural-plasticity experiment is that they hold): every dendrite keeps its synapse
count, the grown inputs are disjoint from the inputs the dendrite had, no dendrite holds
the same input twice, and reset optimizer state / untouched weights are as promised.
"""

from __future__ import annotations

import math

import torch

from core.nets.dendritic import DendriticLayer

__all__ = ["counts_for_rate", "select_top", "rewire", "RewireError"]


class RewireError(RuntimeError):
    """A rewire invariant was broken (a bug, never a user error)."""


def counts_for_rate(
    rate_percent: float, n_dendrites: int, synapses: int, gen: torch.Generator | None, device: torch.device | str
) -> torch.Tensor:
    """Synapses to move per dendrite: ``rate · synapses`` rounded stochastically.

    16 synapses at 1 % is 0.16 synapses: rounding down would freeze the network, rounding up
    would move 6x too many. ``floor`` plus a Bernoulli draw on the fraction keeps the
    expected count equal to the rate, independently per dendrite.
    """
    want = rate_percent / 100.0 * synapses
    base = math.floor(want)
    extra = torch.rand(n_dendrites, generator=gen, device=device) < (want - base)
    return (base + extra.long()).clamp_(max=synapses)


def select_top(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Bool mask with the ``k[d]`` highest scores of row ``d`` set (ties broken by position)."""
    order = scores.argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(scores.shape[1], device=scores.device).expand_as(order).contiguous()
    )
    return rank < k[:, None]


def _check(old: torch.Tensor, new: torch.Tensor, drop: torch.Tensor, k: torch.Tensor) -> None:
    if new.shape != old.shape:
        raise RewireError(f"synapse table changed shape {tuple(old.shape)} -> {tuple(new.shape)}")
    if not torch.equal(drop.sum(1), k):
        raise RewireError("a dendrite dropped a different number of synapses than scheduled")
    if not torch.equal(new[~drop], old[~drop]):
        raise RewireError("a kept synapse changed its input")
    hit_old = (new[:, :, None] == old[:, None, :]).any(2)
    if (hit_old & drop).any():
        raise RewireError("a grown synapse connects to an input the dendrite already had")
    s = new.sort(1).values
    if (s[:, 1:] == s[:, :-1]).any():
        raise RewireError("a dendrite holds the same input twice")


@torch.no_grad()
def rewire(
    layer: DendriticLayer,
    k: torch.Tensor,
    *,
    scores: torch.Tensor,
    grow,
    new_weights,
    optimizer: torch.optim.Optimizer | None = None,
    reset_state: bool = False,
    gen: torch.Generator | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Move ``k[d]`` synapses of every dendrite ``d``; return the ``(n_d, S)`` mask of moved slots.

    ``scores``: from a drop criterion (higher = drop first). ``grow(layer, kmax, gen)``:
    a growth rule. ``new_weights(weight, he_std, gen)``: an init rule (core.plasticity.init).
    ``reset_state``: zero the optimizer moments of the moved slots (else the new synapse
    inherits its slot's moments, which the user found to work better).
    """
    drop = select_top(scores, k)
    kmax = int(k.max())
    if kmax == 0:
        return drop
    old = layer.idx.clone()
    cand = grow(layer, kmax, gen)
    # the j-th dropped slot of a dendrite takes that dendrite's j-th candidate input
    slot = (drop.long().cumsum(1) - 1).clamp_(min=0, max=kmax - 1)
    new = torch.where(drop, cand.gather(1, slot), old)
    if check:
        _check(old, new, drop, k)
    layer.idx.copy_(new)
    fresh = new_weights(layer.weight, layer.he_std, gen)
    layer.weight.copy_(torch.where(drop, fresh, layer.weight))
    if optimizer is not None and reset_state:
        for buf in optimizer.state.get(layer.weight, {}).values():
            if torch.is_tensor(buf) and buf.shape == drop.shape:
                buf.masked_fill_(drop, 0.0)
    return drop
