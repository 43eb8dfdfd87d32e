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
    of being masked), each with its own step count (``steps``): a member that joined later
    (:meth:`resized`) has its own Adam bias corrections. ``state_of(i, p)`` names member p's
    optimizer state of parameter i the way ``torch.optim`` does (``exp_avg``, ...), as views.
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
        self.steps = [0] * len(self.weight_decays)  # per member: its own Adam bias corrections
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

    def _bias_corrections(self) -> tuple[torch.Tensor, float | torch.Tensor]:
        """Adam's step size −lr / (1 − β1^t) per member (float32 [P]) and √(1 − β2^t): a Python
        float when every member is at the same step (torch's own scalar path), else a float32
        [P, 1, ...] tensor of the members' Python values (the same rounding, checked bitwise by
        the refill tests)."""
        like = self.params[0]
        if len(set(self.steps)) == 1:
            t = self.steps[0]
            return (self._lrs64 / (1 - _BETA1**t)).neg_().to(like.dtype), (1 - _BETA2**t) ** 0.5
        bc1 = torch.tensor([1 - _BETA1**t for t in self.steps], dtype=torch.float64)
        bc2 = torch.tensor([(1 - _BETA2**t) ** 0.5 for t in self.steps], dtype=torch.float64)
        if like.is_cuda:
            bc1 = bc1.pin_memory().to(like.device, non_blocking=True)
            bc2 = bc2.pin_memory().to(like.device, non_blocking=True)
        return (self._lrs64 / bc1).neg_().to(like.dtype), bc2.to(like.dtype)

    @torch.no_grad()
    def step(self) -> None:
        self.steps = [t + 1 for t in self.steps]
        if self.kind != "sgd":
            neg_step, bias_correction2_sqrt = self._bias_corrections()
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
            lead = (-1,) + (1,) * (param.dim() - 1)
            step_size = neg_step.view(lead)
            bc2 = (
                bias_correction2_sqrt if isinstance(bias_correction2_sqrt, float) else bias_correction2_sqrt.view(lead)
            )
            denom = (exp_avg_sq.sqrt() / bc2).add_(_EPS)
            # torch: param.addcdiv_(exp_avg, denom, value=-step_size), i.e. param + (value * exp_avg) / denom.
            param.addcdiv_(exp_avg * step_size, denom)

    def select(self, rows: Sequence[int], params: Sequence[torch.Tensor]) -> PopulationOptimizer:
        """The optimizer of the smaller population ``params`` made of ``rows``, state carried over."""
        return self.resized(rows, params, [], [])

    def resized(
        self, rows: Sequence[int], params: Sequence[torch.Tensor], lrs: Sequence[float], weight_decays: Sequence[float]
    ) -> PopulationOptimizer:
        """The optimizer of the population ``params``: the members at ``rows`` (state and step
        counts carried over), then new members with ``lrs`` / ``weight_decays`` and a fresh state,
        as a new ``torch.optim`` optimizer has (step 0, zero moments, no momentum buffer)."""
        new = len(lrs)
        assert len(weight_decays) == new and params[0].shape[0] == len(rows) + new
        out = PopulationOptimizer(
            params,
            self.kind,
            [self.lrs[r] for r in rows] + list(lrs),
            [self.weight_decays[r] for r in rows] + list(weight_decays),
            self.momentum,
        )
        out.steps = [self.steps[r] for r in rows] + [0] * new
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.params[0].device)

        def carried(t: torch.Tensor) -> torch.Tensor:
            kept = t.index_select(0, idx)
            return torch.cat([kept, kept.new_zeros((new,) + tuple(t.shape[1:]))]) if new else kept

        out.exp_avg = [carried(t) for t in self.exp_avg]
        out.exp_avg_sq = [carried(t) for t in self.exp_avg_sq]
        # sgd: a new member's buffer starts at zero, and 0 * momentum + grad is exactly its first
        # gradient, which torch copies in as the buffer on a first step.
        out.momentum_buffer = [None if t is None else carried(t) for t in self.momentum_buffer]
        return out

    def state_of(self, i: int, p: int) -> dict[str, torch.Tensor]:
        """Member ``p``'s state of parameter ``i`` as ``torch.optim`` names it (views; writable)."""
        if self.kind == "sgd":
            buf = self.momentum_buffer[i]
            return {} if buf is None else {"momentum_buffer": buf[p]}
        return {"exp_avg": self.exp_avg[i][p], "exp_avg_sq": self.exp_avg_sq[i][p]}
