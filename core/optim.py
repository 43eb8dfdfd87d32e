"""The optimizers, by name: one registry for every experiment, one meaning per name.

``adam`` and ``adamw`` are torch's, with torch's defaults (betas 0.9/0.999, eps 1e-8);
``sgd`` is torch's SGD with the ``momentum`` the caller passes (dampening 0, no Nesterov),
so ``momentum: 0`` is plain SGD. Each experiment's config states its own ``momentum``
default (``dendritic``: 0.9, ``imp``: 0). The batched optimizer of a population
(:class:`core.optim_batched.PopulationOptimizer`) knows the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from core.registry import Registry

__all__ = ["OPTIMIZERS", "make_optimizer"]

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
