"""P dendritic ANNs of one shape as one batched model ("many dendritic trials at once").

Member ``p`` is a real :class:`~core.nets.dendritic.DANN` whose parameters and synapse table
``idx`` are views into row ``p`` of the population's stacked tensors: all parameters of a
member in one row of ``flat`` [P, D] (the reference's ``named_parameters`` order, flattened),
the synapse tables in ``idx`` [P, n_dendrites, synapses]. Training runs on the stacked
tensors; everything else (rewiring, criteria, summaries, figures) is the reference's own code
acting on the member's module, and writes through its views into the population.

The arithmetic is :mod:`core.nets.dendritic_kernels`, the same functions a ``DANN`` alone
calls with P = 1: on CPU each member's outputs and gradients are bitwise its run alone's
(``tests/core/test_dendritic_population.py``), on Intel and AMD processors alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from core.nets.dendritic import DANN
from core.nets.dendritic_kernels import eval_forward, train_forward

__all__ = ["PopulationDANN"]


class PopulationDANN:
    """Stacked parameters and synapse tables of P same-shaped :class:`DANN` s, with a batched forward."""

    def __init__(self, models: Sequence[DANN]) -> None:
        self.models = list(models)
        first = self.models[0].dendritic
        self.n_inputs, self.n_somata = first.n_inputs, first.n_somata
        self.dps, self.synapses, self.n_dendrites = first.dendrites_per_soma, first.synapses, first.n_dendrites
        self.shapes = [tuple(p.shape) for p in self.models[0].parameters()]
        self._numels = [math.prod(s) for s in self.shapes]
        flat = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in self.models])
        self.flat = flat.requires_grad_()
        self.idx = torch.stack([m.dendritic.idx for m in self.models])
        self._bind()
        self._acts = {w: self._activations(w) for w in ("f_dendrite", "f_soma")}

    def _activations(self, which: str) -> list[tuple[torch.nn.Module, torch.Tensor | None]]:
        """The members' activation (``f_dendrite`` or ``f_soma``): one (module, rows) per distinct
        one; rows ``None`` when every member has the same (the common case, no extra copies)."""
        groups: dict[str, tuple[torch.nn.Module, list[int]]] = {}
        for p, m in enumerate(self.models):
            f = getattr(m.dendritic, which)
            groups.setdefault(repr(f), (f, []))[1].append(p)
        if len(groups) == 1:
            return [(f, None) for f, _ in groups.values()]
        device = self.flat.device
        return [(f, torch.tensor(rows, device=device)) for f, rows in groups.values()]

    def _apply(self, which: str, x: torch.Tensor) -> torch.Tensor:
        """Each member's own activation on its row of ``x`` [P, ...]: elementwise, so every value
        (and, through autograd's index ops, every gradient) is the member's alone."""
        acts = self._acts[which]
        if acts[0][1] is None:
            return acts[0][0](x)
        out = x.new_empty(x.shape)
        for f, rows in acts:
            out[rows] = f(x.index_select(0, rows))
        return out

    def _bind(self) -> None:
        # Each member's module now reads and writes its row of the stacked tensors.
        rows = self.flat.detach()
        for p, m in enumerate(self.models):
            for param, view in zip(m.parameters(), self.unflatten(rows[p])):
                param.data = view
            m.dendritic.idx = self.idx[p]

    @property
    def size(self) -> int:
        return len(self.models)

    def parameters(self) -> list[torch.Tensor]:
        return [self.flat]

    def unflatten(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """``rows`` [P, D] (or [D]) as the reference's parameters, each [P, *shape] (or [*shape])."""
        lead = rows.shape[:-1]
        return [t.view(*lead, *s) for t, s in zip(rows.split(self._numels, dim=-1), self.shapes)]

    def weight_slice(self, row: torch.Tensor) -> torch.Tensor:
        """The synapse weights [n_dendrites, synapses] inside one flat row (optimizer state too)."""
        return row[: self._numels[0]].view(self.shapes[0])

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [G, B, n_in] (batch g in row g) → logits [P, B, classes]; member p reads batch ``groups[p]``
        (:func:`~core.nets.dendritic_kernels.train_forward`)."""
        return train_forward(self.idx, self.unflatten(self.flat), x, groups, self._apply)

    __call__ = forward

    @torch.no_grad()
    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """The same ``x`` [N, n_in] through every member (evaluation) → logits [P, N, classes]."""
        return eval_forward(self.idx, self.unflatten(self.flat.detach()), x, self._apply)

    def select(self, rows: Sequence[int]) -> PopulationDANN:
        """The population of the given members only (the others left); their modules are rebound."""
        out = PopulationDANN.__new__(PopulationDANN)
        out.__dict__.update(self.__dict__)
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.flat.device)
        out.models = [self.models[r] for r in rows]
        out.flat = self.flat.detach().index_select(0, idx).requires_grad_()
        out.idx = self.idx.index_select(0, idx)
        out._bind()
        out._acts = {w: out._activations(w) for w in ("f_dendrite", "f_soma")}
        return out
