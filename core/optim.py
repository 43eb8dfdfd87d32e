"""The optimizers, by name: one registry for every experiment, one meaning per name.

``adam`` and ``adamw`` are torch's, with torch's defaults (betas 0.9/0.999, eps 1e-8);
``sgd`` is torch's SGD with the ``momentum`` the caller passes (dampening 0, no Nesterov),
so ``momentum: 0`` is plain SGD. Each experiment's config states its own ``momentum``
default (``dendritic``: 0.9, ``imp``: 0). The batched optimizer of a population
(:class:`core.optim_batched.PopulationOptimizer`) knows the same names.

Learning-rate schedules (``LR_SCHEDULES``) map training progress t in [0, 1) (steps taken /
total steps) to a factor of the base rate, so the loop sets ``lr = base · factor(t)`` before
every step: ``constant``; ``cosine`` (to 0 at the end, Loshchilov & Hutter's SGDR without
restarts); ``step`` (× 0.1 at half and at three quarters of training). A plain function of
the step, not a ``torch.optim.lr_scheduler``: the population sets each member's rate from the
same formula, in the same double arithmetic, and so stays bitwise equal to the member alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from core.registry import Registry

__all__ = ["OPTIMIZERS", "LR_SCHEDULES", "make_optimizer", "lr_at"]

# name -> factory(params, lr, weight_decay, momentum)
OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam")(lambda ps, lr, wd, m: torch.optim.Adam(ps, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adamw")(lambda ps, lr, wd, m: torch.optim.AdamW(ps, lr=lr, weight_decay=wd))
OPTIMIZERS.register("sgd")(lambda ps, lr, wd, m: torch.optim.SGD(ps, lr=lr, momentum=m, weight_decay=wd))


def make_optimizer(
    name: str,
    params: Iterable[nn.Parameter],
    *,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    path: str = "train.optimizer",
) -> torch.optim.Optimizer:
    """The registered optimizer ``name``; ``momentum`` is read by ``sgd`` only (0: plain SGD)."""
    return OPTIMIZERS.get(name, path)(list(params), lr, weight_decay, momentum)


# name -> factor(t), t = steps taken / total steps, in [0, 1)
LR_SCHEDULES: Registry[Callable[[float], float]] = Registry("learning-rate schedule")
LR_SCHEDULES.register("constant")(lambda t: 1.0)
LR_SCHEDULES.register("cosine")(lambda t: 0.5 * (1.0 + math.cos(math.pi * t)))
LR_SCHEDULES.register("step")(lambda t: 1.0 if t < 0.5 else (0.1 if t < 0.75 else 0.01))


def lr_at(schedule: str, base: float, step: int, total_steps: int) -> float:
    """The learning rate for the step after ``step`` steps were taken (``step`` from 0)."""
    return base * LR_SCHEDULES.get(schedule, "train.lr_schedule")(step / max(1, total_steps))
