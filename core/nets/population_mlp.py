"""P masked MLPs of one shape, trained as one batched model ("many trials per GPU").

Member ``p`` of a :class:`PopulationMLP` is the :class:`~core.nets.mlp.MaskedMLP` whose
parameters and masks are row ``p`` of the stacked tensors: weights ``[P, out, in]``, biases
``[P, out]``, masks alike, inputs ``[P, N, in]``. The forward pass is the reference
``F.linear(x, W * mask, b * mask)`` per layer, done for all members by one batched matmul;
on CPU it gives bitwise the same outputs and gradients per member as the reference model
(tested in ``tests/core/test_imp_population.py``), so a member trains exactly as it would alone.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch.nn import functional as F

__all__ = ["PopulationMLP", "LINEAR_MODES", "batched_is_exact"]

_ACTS = {"relu": F.relu, "tanh": torch.tanh}


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
    """Whether the batched product rounds like the reference ``F.linear`` of each member.

    On CPU, bmm/baddbmm run one addmm per member (what ``F.linear`` runs) only when
    in * rows * out >= 400 and no dimension is 1; smaller products go to a naive kernel
    that sums in another order (and degenerate shapes to matrix-vector kernels), so those
    layers take the per-member loop instead. With several threads, MKL may split the weight
    gradient's sum over rows between threads when rows are many (seen at 1000, not at <= 700),
    so large batches also loop then. Measured on torch 2.13 CPU; the tests keep it honest.
    """
    n_in, n_out, rows = w.shape[2], w.shape[1], x.shape[1]
    if x.device.type != "cpu":
        return True  # no bitwise promise on GPU: the reference itself differs there (foreach Adam)
    threads_ok = rows <= 512 or torch.get_num_threads() == 1
    return min(n_in, n_out, rows) >= 2 and n_in * rows * n_out >= 400 and threads_ok


class PopulationMLP:
    """Stacked parameters and masks of P same-shaped masked MLPs, with a batched forward.

    ``params`` and ``masks`` map the reference names (``layers.{i}.weight`` / ``.bias``) to
    stacked tensors whose first dimension is the member. Parameters are leaf tensors that
    require grad; a population optimizer updates them in place.
    """

    def __init__(self, params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                 activation: str = "relu", mode: str = "bmm") -> None:
        self.params = params
        self.masks = masks
        self.activation = activation
        self.mode = mode
        self.n_layers = len(params) // 2
        self._act = _ACTS[activation]
        self._linear = LINEAR_MODES[mode]

    @classmethod
    def stack(cls, states: Sequence[Mapping[str, torch.Tensor]], masks: Sequence[Mapping[str, torch.Tensor]],
              activation: str = "relu", mode: str = "bmm") -> "PopulationMLP":
        """One population from per-member ``name → tensor`` parameter and mask dicts (same names)."""
        names = list(states[0])
        params = {n: torch.stack([s[n].detach() for s in states]).requires_grad_() for n in names}
        stacked_masks = {n: torch.stack([m[n] for m in masks]) for n in names}
        return cls(params, stacked_masks, activation, mode)

    @property
    def size(self) -> int:
        """Number of members P."""
        return next(iter(self.params.values())).shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [P, N, in] → logits [P, N, out]; member p sees only row p of everything."""
        last = self.n_layers - 1
        for i in range(self.n_layers):
            w = self.params[f"layers.{i}.weight"] * self.masks[f"layers.{i}.weight"]
            b = self.params[f"layers.{i}.bias"] * self.masks[f"layers.{i}.bias"]
            x = self._linear(x, w, b) if batched_is_exact(x, w) else _linear_loop(x, w, b)
            if i < last:
                x = self._act(x)
        return x

    __call__ = forward

    def member(self, p: int) -> dict[str, torch.Tensor]:
        """Detached copies of member ``p``'s parameters (reference names)."""
        return {n: t[p].detach().clone() for n, t in self.params.items()}

    def select(self, rows: Sequence[int]) -> "PopulationMLP":
        """A smaller population of the given rows (members that stopped leave the batch)."""
        idx = torch.tensor(list(rows), dtype=torch.long, device=next(iter(self.params.values())).device)
        params = {n: t.detach().index_select(0, idx).requires_grad_() for n, t in self.params.items()}
        masks = {n: m.index_select(0, idx) for n, m in self.masks.items()}
        return PopulationMLP(params, masks, self.activation, self.mode)

    def footprint_bytes(self) -> int:
        """Bytes held by parameters and masks (all members)."""
        return sum(t.numel() * t.element_size() for t in [*self.params.values(), *self.masks.values()])
