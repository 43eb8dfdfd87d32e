"""How much to keep at each IMP level: the user's count schedule, or a fixed fraction.

A schedule answers one question: after level ``i``, how many prunable parameters does
each pruning group keep? Groups come from the pruning scope (one global group, or one
per layer). Which entries survive is decided elsewhere (:mod:`core.lottery.pruning`),
so a schedule is only arithmetic and is tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from core.registry import Registry

__all__ = ["SCHEDULES", "GroupState", "ScheduleParams", "count_schedule", "apportion"]


@dataclass(frozen=True)
class GroupState:
    """One pruning group: its prunable count before any pruning, now, and its role."""

    initial: int
    alive: int
    is_output: bool


class ScheduleParams(Protocol):
    """The fields of the ``imp`` config section a schedule reads."""

    levels: int
    target_params: int
    fraction: float
    output_fraction: float


Schedule = Callable[[ScheduleParams, int, list[GroupState]], list[int]]
SCHEDULES: Registry[Schedule] = Registry("pruning schedule")


def count_schedule(p0: int, target: int, levels: int) -> list[int]:
    """Counts after levels 1..n: round(P0 · (T/P0)^(i/n)); the last one is exactly T."""
    counts = [int(round(p0 * (target / p0) ** (i / levels))) for i in range(1, levels + 1)]
    counts[-1] = target  # guard against float error at i = n: the budget must land on T
    return counts


def apportion(total: int, weights: list[int], caps: list[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, each ≤ its cap, summing exactly.

    Largest-remainder rounding; what a capped group cannot take goes to the others, so the
    layer-wise count schedule still lands on the scheduled total.
    """
    if total > sum(caps):
        raise ValueError(f"cannot keep {total} of {sum(caps)} alive parameters")
    out = [0] * len(weights)
    free = [g for g in range(len(weights)) if caps[g] > 0]
    while sum(out) < total:
        left = total - sum(out)
        wsum = sum(weights[g] for g in free)
        quota = {g: left * (weights[g] / wsum if wsum else 1 / len(free)) for g in free}
        take = {g: min(math.floor(quota[g]), caps[g] - out[g]) for g in free}
        rest = left - sum(take.values())
        # The remainder goes by largest fractional part (ties: lower group index first).
        for g in sorted(free, key=lambda g: (math.floor(quota[g]) - quota[g], g)):
            if rest and take[g] < caps[g] - out[g]:
                take[g] += 1
                rest -= 1
        for g in free:
            out[g] += take[g]
        free = [g for g in free if out[g] < caps[g]]
    return out


@SCHEDULES.register("count")
def _count(p: ScheduleParams, level: int, groups: list[GroupState]) -> list[int]:
    """The user's schedule over the total; shared out between groups by their initial sizes."""
    p0 = sum(g.initial for g in groups)
    total = count_schedule(p0, p.target_params, p.levels)[level - 1]
    total = min(total, sum(g.alive for g in groups))
    return apportion(total, [g.initial for g in groups], [g.alive for g in groups])


@SCHEDULES.register("fraction")
def _fraction(p: ScheduleParams, level: int, groups: list[GroupState]) -> list[int]:
    """Frankle & Carbin: remove ``fraction`` of what is alive (``output_fraction`` for the output layer)."""
    out = []
    for g in groups:
        f = p.output_fraction if (g.is_output and len(groups) > 1) else p.fraction
        out.append(g.alive - int(round(g.alive * f)))
    return out
