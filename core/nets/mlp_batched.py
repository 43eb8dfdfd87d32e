"""P masked MLPs of one shape, trained as one batched model ("many trials per GPU").

Member ``p`` of a :class:`PopulationMLP` is the :class:`~core.nets.mlp.MaskedMLP` whose
parameters and masks are row ``p`` of the stacked tensors: weights ``[P, out, in]``, biases
``[P, out]``, masks alike, inputs ``[P, N, in]``. The forward pass is the reference
``F.linear(x, W * mask, b * mask)`` per layer, done for all members by one batched matmul
(:func:`batched_linear`), the product ``MaskedMLP`` itself computes with a population of one:
on CPU a member gets bitwise the outputs and gradients it gets alone, on every CPU (tested in
``tests/core/test_imp_population.py``), so a member trains exactly as it would alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch.nn import functional as F

from core.nets.activations import activation as make_activation

__all__ = ["PopulationMLP", "LINEAR_MODES", "batched_is_exact", "batched_linear"]


def _linear_bmm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


_vmapped_linear = torch.vmap(F.linear)


def _linear_vmap(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _vmapped_linear(x, w, b)


def _linear_loop(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack([F.linear(x[p], w[p], b[p]) for p in range(x.shape[0])])


# Two formulations of the batched layer; the benchmark measures both, "bmm" is the default.
LINEAR_MODES = {"bmm": _linear_bmm, "vmap": _linear_vmap, "loop": _linear_loop}


def batched_is_exact(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether one batched product gives every member the bits it gets in a population of one.

    A run alone is a population of one (``MaskedMLP`` and ``DANN`` compute through this layer),
    so what must hold is P-invariance: member p's outputs and gradients may not depend on how
    many members share the product. Measured on torch 2.13+cpu (MKL in strict CNR mode, see
    :mod:`core.reproducible`): with one thread bmm/baddbmm computes each member on its own, on
    Intel Xeon and AMD EPYC alike. With several threads MKL splits one member's product between
    threads when it is alone but gives whole members to threads in a batch (seen on AMD EPYC for
    the weight gradient of 4→16 and 6→16 layers at every batch size), so several threads take the
    per-member loop: one product per member, the same call alone or in a population. Tiny and
    degenerate products (a dimension of 1, fewer than 400 multiply-adds) go to naive kernels
    on some CPUs and take the loop too. The tests keep it honest on the machine they run on.
    """
    n_in, n_out, rows = w.shape[2], w.shape[1], x.shape[1]
    if x.device.type != "cpu":
        return True  # no bitwise promise on GPU: cuBLAS picks kernels by batch size
    return min(n_in, n_out, rows) >= 2 and n_in * rows * n_out >= 400 and torch.get_num_threads() == 1


def batched_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``F.linear(x[p], w[p], b[p])`` for every member p, batched where that rounds like the reference."""
    return _linear_bmm(x, w, b) if batched_is_exact(x, w) else _linear_loop(x, w, b)


class PopulationMLP:
    """Stacked parameters and masks of P same-shaped masked MLPs, with a batched forward.

    All of a member's parameters live in one row of ``flat`` [P, D] (the reference names
    ``layers.{i}.weight`` / ``.bias`` in order, each flattened), and its masks in the same row
    of ``flat_mask``. One leaf tensor means the optimizer touches every parameter of every
    member with a handful of elementwise ops per step instead of a handful per tensor.
    """

    def __init__(
        self,
        flat: torch.Tensor,
        flat_mask: torch.Tensor,
        shapes: Mapping[str, tuple[int, ...]],
        activation: str = "relu",
        mode: str = "bmm",
    ) -> None:
        self.flat = flat if flat.requires_grad else flat.requires_grad_()
        self.flat_mask = flat_mask
        self.shapes = dict(shapes)
        self.activation = activation
        self.mode = mode
        self.n_layers = len(self.shapes) // 2
        self._numels = [math.prod(s) for s in self.shapes.values()]
        self._act = make_activation(activation, "model.activation")
        self._linear = LINEAR_MODES[mode]

    @classmethod
    def stack(
        cls,
        states: Sequence[Mapping[str, torch.Tensor]],
        masks: Sequence[Mapping[str, torch.Tensor]],
        activation: str = "relu",
        mode: str = "bmm",
    ) -> PopulationMLP:
        """One population from per-member ``name → tensor`` parameter and mask dicts (same names)."""
        names = list(states[0])
        shapes = {n: tuple(states[0][n].shape) for n in names}
        flat = torch.stack([torch.cat([s[n].detach().reshape(-1) for n in names]) for s in states])
        flat_mask = torch.stack([torch.cat([m[n].reshape(-1) for n in names]) for m in masks])
        return cls(flat, flat_mask, shapes, activation, mode)  # __init__ makes flat require grad

    def parameters(self) -> list[torch.Tensor]:
        return [self.flat]

    def unflatten(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """``rows`` [P, D] (or one row [D]) as ``name → [P, *shape]`` (or ``[*shape]``) views."""
        lead = rows.shape[:-1]
        parts = rows.split(self._numels, dim=-1)
        return {n: t.view(*lead, *shape) for (n, shape), t in zip(self.shapes.items(), parts)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [P, N, in] → logits [P, N, out]; member p sees only row p of everything."""
        # The reference's weight * mask per tensor, as one product over the flat rows.
        eff = self.unflatten(self.flat * self.flat_mask)
        last = self.n_layers - 1
        for i in range(self.n_layers):
            w, b = eff[f"layers.{i}.weight"], eff[f"layers.{i}.bias"]
            x = self._linear(x, w, b) if batched_is_exact(x, w) else _linear_loop(x, w, b)
            if i < last:
                x = self._act(x)
        return x

    __call__ = forward

    def member(self, p: int, rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Copies of member ``p``'s parameters (reference names), from ``rows`` or the live ones."""
        src = (self.flat if rows is None else rows).detach()[p].clone()
        return self.unflatten(src)

    def select(self, rows: Sequence[int]) -> PopulationMLP:
        """A smaller population of the given rows (members that stopped leave the batch)."""
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.flat.device)
        flat, mask = self.flat.detach().index_select(0, idx), self.flat_mask.index_select(0, idx)
        return PopulationMLP(flat, mask, self.shapes, self.activation, self.mode)
