"""The dANN's arithmetic for P members at once: one code path for a run alone and a population.

A run alone is a population of one: :class:`~core.nets.dendritic.DANN` calls these functions
with P = 1 and :class:`~core.nets.dendritic_batched.PopulationDANN` with P members. A member's
outputs and gradients are then bitwise the same whatever the population's size, on every CPU
(Intel or AMD, AVX2 or AVX-512): the promise does not rest on two different formulations
(a plain module and a batched one) happening to round alike, which held on some CPUs only.
What each kernel must satisfy is that member p's result depends on member p's data alone
(no reduction across members, no parallel split that changes with P); the population tests
check it member by member, and ``batched_is_exact`` keeps the output layer's gemm to shapes
where that holds.

Parameters come as ``params = (w, db, sw, sb, wo, bo)``, each with the member dimension in
front: synapse weights [P, nd, s], dendrite biases [P, nd], soma weights [P, ns, dps], soma
biases [P, ns], output weights [P, C, ns] and biases [P, C]. ``act(which, t)`` applies each
member's own activation (``"f_dendrite"`` or ``"f_soma"``) to a [P, ...] tensor.

Two layouts, as before the merge: training (with a backward pass) runs the dendrite stage
dendrite-major and the soma and output stages batch-major, so that the backward reductions
(bias gradients over the batch, the output gemm) stay within a member and elementwise kernels
never mix layouts (mixing them made ReLU's backward 6x slower); evaluation (no backward, the
same inputs for every member) stays dendrite-major throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from core.nets.mlp_batched import batched_linear

__all__ = ["train_forward", "eval_forward", "Act"]

Act = Callable[[str, torch.Tensor], torch.Tensor]


class _ToBatchMajor(torch.autograd.Function):
    """[P, nd, B] → contiguous [P, B, nd]; the gradient goes back contiguous [P, nd, B].

    Plain ``transpose().contiguous()`` would hand the dendrite stage a batch-major gradient,
    and the activation's backward would then mix layouts (slow).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.transpose(1, 2).contiguous()


def train_forward(
    idx: torch.Tensor, params: Sequence[torch.Tensor], x: torch.Tensor, groups: torch.Tensor | None, act: Act
) -> torch.Tensor:
    """``x`` [G, B, n_in] (batch g in row g) → logits [P, B, C]; member p reads batch ``groups[p]``.

    Members that share a batch (the same seed: the same data order) share one transposed
    input table, so the gather reads a table of G·n_in rows instead of P·n_in. ``groups``
    ``None`` means one batch per member (G = P).
    """
    g, b, n_in = x.shape
    p, nd, s = idx.shape
    w, db, sw, sb, wo, bo = params
    ns, dps = sw.shape[1], sw.shape[2]
    table = x.transpose(1, 2).contiguous().view(g * n_in, b)  # x.T per batch: one row per input
    if groups is None:
        groups = torch.arange(g, device=x.device)
    bags = (idx + (groups * n_in).view(-1, 1, 1)).view(-1, s)
    d = F.embedding_bag(bags, table, per_sample_weights=w.reshape(-1, s), mode="sum")
    a = act("f_dendrite", d.view(p, nd, b) + db.unsqueeze(2))
    a = _ToBatchMajor.apply(a).view(p, b, ns, dps)
    h = act("f_soma", (a * sw.unsqueeze(1)).sum(-1) + sb.unsqueeze(1))
    return batched_linear(h, wo, bo)


def eval_forward(idx: torch.Tensor, params: Sequence[torch.Tensor], x: torch.Tensor, act: Act) -> torch.Tensor:
    """The same ``x`` [N, n_in] through every member (no backward) → logits [P, N, C]."""
    p, nd, s = idx.shape
    n = x.shape[0]
    w, db, sw, sb, wo, bo = params
    ns, dps = sw.shape[1], sw.shape[2]
    d = F.embedding_bag(idx.reshape(-1, s), x.T.contiguous(), per_sample_weights=w.reshape(-1, s), mode="sum")
    a = act("f_dendrite", d.view(p, nd, n) + db.unsqueeze(2)).view(p, ns, dps, n)
    h = act("f_soma", (a * sw.unsqueeze(3)).sum(2) + sb.unsqueeze(2))
    return batched_linear(h.transpose(1, 2), wo, bo)
