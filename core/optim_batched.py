"""Adam, AdamW and SGD over stacked parameters, with a learning rate and weight decay per member.

The arithmetic is torch's single-tensor Adam / AdamW / SGD (what ``torch.optim`` runs on CPU),
written once for all members: every per-member scalar becomes a ``[P, 1, ...]`` float32
tensor, which is the value torch casts the Python scalar to inside its kernels. On CPU this
reproduces, bitwise, the per-member ``torch.optim`` updates of the reference loop
(``core.lottery.train``); the population tests check it through whole IMP runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.optim import OPTIMIZERS

__all__ = ["PopulationOptimizer"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults, which the reference uses


class PopulationOptimizer:
    """``kind`` adam, adamw or sgd (:data:`core.optim.OPTIMIZERS`) on stacked ``params`` (dim 0 =
    member); ``lrs``, ``weight_decays`` per member; ``momentum`` (sgd, dampening 0, no Nesterov)
    shared by all members.

    All members step together (a member that stops training leaves the population instead
    of being masked), so one step counter serves all of them. ``state_of(i, p)`` names member
    p's optimizer state of parameter i the way ``torch.optim`` does (``exp_avg``, ...), as views.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        kind: str,
        lrs: Sequence[float],
        weight_decays: Sequence[float],
        momentum: float = 0.0,
    ) -> None:
        OPTIMIZERS.get(kind, "train.optimizer")  # the names of core.optim, with their meaning
        self.params = list(params)
        self.kind = kind
        self.momentum = float(momentum) if kind == "sgd" else 0.0
        # sgd momentum buffers: created from the first step's gradient, as torch does
        self.momentum_buffer: list[torch.Tensor | None] = [None] * len(self.params)
        self.weight_decays = [float(v) for v in weight_decays]
        self.steps = 0
        adam = kind in ("adam", "adamw")
        self.exp_avg = [torch.zeros_like(p) for p in self.params] if adam else []
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params] if adam else []
        self._decay = any(self.weight_decays) and kind != "adamw"
        self._wds = [self._per_member(self.weight_decays, p) for p in self.params] if self._decay else []
        self._wds64 = torch.tensor(self.weight_decays, dtype=torch.float64, device=self.params[0].device)
        self.lrs: list[float] | None = None
        self.set_lrs(lrs)

    def set_lrs(self, lrs: Sequence[float]) -> None:
        """Each member's learning rate from the next step on (a schedule calls this every step).

        One float64 tensor of the rates goes to the device (without a host sync on CUDA: from pinned
        memory, non-blocking) and every per-member factor is formed there in float64, then rounded
        to the parameters' float32 once: the values torch forms in Python double and casts inside
        its kernels, so the CPU result stays bitwise torch's. Unchanged rates cost nothing.
        """
        lrs = [float(v) for v in lrs]
        if lrs == self.lrs:
            return
        self.lrs = lrs
        like = self.params[0]
        lrs64 = torch.tensor(lrs, dtype=torch.float64)
        if like.is_cuda:
            lrs64 = lrs64.pin_memory().to(like.device, non_blocking=True)
        # Learning rates in float64 on the device: the step size lr / (1 - beta1^t) is then
        # formed in double, as torch does in Python.
        self._lrs64 = lrs64
        # adamw: torch multiplies the parameter by 1 - lr * wd (a Python float, cast to float32)
        self._shrink = (
            [self._shaped((1.0 - lrs64 * self._wds64).to(p.dtype), p) for p in self.params]
            if self.kind == "adamw" and any(self.weight_decays)
            else []
        )
        self._neg_lrs = [self._shaped(lrs64.neg().to(p.dtype), p) for p in self.params] if self.kind == "sgd" else []

    @staticmethod
    def _shaped(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """[P] → [P, 1, ...] to broadcast over ``like``'s member rows."""
        return values.view((values.shape[0],) + (1,) * (like.dim() - 1))

    @staticmethod
    def _per_member(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
        # float32 [P, 1, ...]: the same rounding torch applies to a Python scalar in the kernel.
        shape = (len(values),) + (1,) * (like.dim() - 1)
        return torch.tensor(list(values), dtype=like.dtype, device=like.device).view(shape)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        if self.kind != "sgd":
            bias_correction1 = 1 - _BETA1**self.steps
            bias_correction2_sqrt = (1 - _BETA2**self.steps) ** 0.5
            neg_step = (self._lrs64 / bias_correction1).neg_().to(self.params[0].dtype)
        for i, param in enumerate(self.params):
            grad = param.grad
            if self._decay:
                # torch: grad.add(param, alpha=wd); a zero wd leaves the grad exactly as it is.
                grad = torch.addcmul(grad, param, self._wds[i])
            if self._shrink:
                param.mul_(self._shrink[i])  # a member with wd 0 is multiplied by exactly 1
            if self.kind == "sgd":
                if self.momentum:
                    buf = self.momentum_buffer[i]
                    if buf is None:
                        buf = self.momentum_buffer[i] = grad.detach().clone()
                    else:
                        buf.mul_(self.momentum).add_(grad)  # torch: add_(grad, alpha=1 - dampening)
                    grad = buf
                param.addcmul_(grad, self._neg_lrs[i])
                continue
            exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
            exp_avg.lerp_(grad, 1 - _BETA1)
            exp_avg_sq.mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
            step_size = neg_step.view((-1,) + (1,) * (param.dim() - 1))
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(_EPS)
            # torch: param.addcdiv_(exp_avg, denom, value=-step_size), i.e. param + (value * exp_avg) / denom.
            param.addcdiv_(exp_avg * step_size, denom)

    def select(self, rows: Sequence[int], params: Sequence[torch.Tensor]) -> PopulationOptimizer:
        """The optimizer of the smaller population ``params`` made of ``rows``, state carried over."""
        lrs, wds = [self.lrs[r] for r in rows], [self.weight_decays[r] for r in rows]
        out = PopulationOptimizer(params, self.kind, lrs, wds, self.momentum)
        out.steps = self.steps
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.params[0].device)
        out.exp_avg = [t.index_select(0, idx) for t in self.exp_avg]
        out.exp_avg_sq = [t.index_select(0, idx) for t in self.exp_avg_sq]
        out.momentum_buffer = [None if t is None else t.index_select(0, idx) for t in self.momentum_buffer]
        return out

    def state_of(self, i: int, p: int) -> dict[str, torch.Tensor]:
        """Member ``p``'s state of parameter ``i`` as ``torch.optim`` names it (views; writable)."""
        if self.kind == "sgd":
            buf = self.momentum_buffer[i]
            return {} if buf is None else {"momentum_buffer": buf[p]}
        return {"exp_avg": self.exp_avg[i][p], "exp_avg_sq": self.exp_avg_sq[i][p]}
