"""Rate schedules: *how many* synapses per dendrite a round removes, in percent.

``schedule(p, n, t, decay)``: ``p`` the base rate in percent, ``n`` the round (1, 2, ...),
``t`` the training progress in [0, 1] at that round, ``decay`` the factor of the
exponential schedule. The user's rule is ``root``: round n removes p^(1/n) percent
(p = 10 → 10, 3.16, 2.15, ... → 1 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from core.registry import Registry

__all__ = ["SCHEDULES", "Schedule"]

Schedule = Callable[[float, int, float, float], float]
SCHEDULES: Registry[Schedule] = Registry("rate schedule")


@SCHEDULES.register("constant")
def constant(p: float, n: int, t: float, decay: float) -> float:
    return p


@SCHEDULES.register("root")
def root(p: float, n: int, t: float, decay: float) -> float:
    """p^(1/n) percent in round n (p in percent); tends to 1 % for any p > 0."""
    return p ** (1.0 / n) if p > 0 else 0.0


@SCHEDULES.register("linear")
def linear(p: float, n: int, t: float, decay: float) -> float:
    """p at the start of training, 0 at the end."""
    return p * max(0.0, 1.0 - t)


@SCHEDULES.register("cosine")
def cosine(p: float, n: int, t: float, decay: float) -> float:
    """RigL's cosine decay: p/2 · (1 + cos(π t))."""
    return p * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


@SCHEDULES.register("exponential")
def exponential(p: float, n: int, t: float, decay: float) -> float:
    """p · decay^(n-1)."""
    return p * decay ** (n - 1)
