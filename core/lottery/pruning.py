"""Magnitude pruning to an exact count, over pruning groups chosen by a scope.

Scope (``global`` or ``layer``) says which prunable tensors compete with each other;
the schedule says how many entries each group keeps; :func:`keep_largest` keeps exactly
that many. Ties in magnitude are broken by position (stable sort), so the count is
exact and the result deterministic, which ``torch.topk`` does not promise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.lottery.schedules import SCHEDULES, GroupState, ScheduleParams
from core.registry import Registry

__all__ = ["SCOPES", "PruneGroup", "keep_largest", "prune_step", "prunable_names"]


@dataclass(frozen=True)
class PruneGroup:
    """Parameter names that compete for survival; ``is_output`` marks the output layer."""

    names: tuple[str, ...]
    is_output: bool


Scope = Callable[[list[str], int], list[PruneGroup]]
SCOPES: Registry[Scope] = Registry("pruning scope")


def _layer(name: str) -> int:
    return int(name.split(".")[1])


@SCOPES.register("global")
def _global(names: list[str], n_layers: int) -> list[PruneGroup]:
    """All prunable tensors in one pool: the smallest magnitudes anywhere go first."""
    return [PruneGroup(tuple(names), False)]


@SCOPES.register("layer")
def _per_layer(names: list[str], n_layers: int) -> list[PruneGroup]:
    """One pool per layer (its weights and, when prunable, its biases)."""
    groups = []
    for i in range(n_layers):
        mine = tuple(n for n in names if _layer(n) == i)
        if mine:
            groups.append(PruneGroup(mine, i == n_layers - 1))
    return groups


def prunable_names(all_names: list[str], prune_bias: bool) -> list[str]:
    """Weights always; biases only when bias pruning is on (docs/definitions.md: prunable parameters)."""
    return [n for n in all_names if n.endswith("weight") or (prune_bias and n.endswith("bias"))]


def keep_largest(values: list[torch.Tensor], masks: list[torch.Tensor], k: int) -> list[torch.Tensor]:
    """New masks keeping exactly the ``k`` alive entries of largest |value| (ties: first position)."""
    flat = torch.cat([v.detach().flatten().double().abs() for v in values])
    alive = torch.cat([m.flatten() for m in masks]).bool()
    if not 0 <= k <= int(alive.sum()):
        raise ValueError(f"cannot keep {k} of {int(alive.sum())} alive entries")
    flat = torch.where(alive, flat, torch.full_like(flat, -1.0))
    order = torch.sort(flat, descending=True, stable=True).indices[:k]
    keep = torch.zeros_like(flat)
    keep[order] = 1.0
    out, start = [], 0
    for m in masks:
        out.append(keep[start : start + m.numel()].view_as(m).to(m.dtype))
        start += m.numel()
    return out


def prune_step(
    params: dict[str, tuple[torch.Tensor, torch.Tensor]],
    names: list[str],
    n_layers: int,
    scope: str,
    schedule: str,
    sched_params: ScheduleParams,
    level: int,
    initial: dict[str, int],
) -> dict[str, torch.Tensor]:
    """One IMP pruning step: new masks for ``names`` after ``level`` (1-based).

    ``params`` maps name → (trained value, current mask); ``initial`` holds each tensor's
    prunable count before level 1, which the count schedule needs.
    """
    groups = SCOPES.get(scope, "imp.scope")(names, n_layers)
    states = [
        GroupState(
            sum(initial[n] for n in g.names),
            sum(int(params[n][1].sum()) for n in g.names),
            g.is_output,
        )
        for g in groups
    ]
    keeps = SCHEDULES.get(schedule, "imp.schedule")(sched_params, level, states)
    new: dict[str, torch.Tensor] = {}
    for g, k in zip(groups, keeps):
        masks = keep_largest([params[n][0] for n in g.names], [params[n][1] for n in g.names], k)
        new.update(zip(g.names, masks))
    return new
