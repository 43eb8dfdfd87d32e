"""The state of a ``dendritic`` population: its members, their stacked model and optimizer, their data orders.

A :class:`Member` is one configuration in training with its own clock: the population epoch it
joined at, from which its own epoch, step (learning-rate schedule, rewiring rounds, Adam's bias
corrections) and data order follow. Members that joined at the same epoch with the same seed
draw the same data order (as their runs alone would), so they share one batch and one input
table per step; a member that joins later draws its own order from its seed, and shares batches
only with members of the same (seed, join epoch). That is what a refill costs in sharing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional as F

from core.contract import Reporter, RunContext
from core.experiments.dendritic import DendriticConfig, Prepared, load_data, prepare, schedule_of
from core.nets.dendritic_batched import PopulationDANN
from core.optim_batched import PopulationOptimizer

__all__ = ["Member", "Population"]

_EVAL_CHUNK = 1024  # core.train.evaluate's chunk: the loss sums in the same order


@dataclasses.dataclass(eq=False)  # identity: a member is found by itself in ``Population.members``
class Member:
    """One configuration in training: its place in the run's outcomes, parts and clock."""

    index: int  # in the run's outcomes: the initial configs first, then each join in order
    config: DendriticConfig
    reporter: Reporter
    prep: Prepared
    schedule: Callable[[int], float] | None
    joined: int  # the population epochs done before it joined (0: from the start)
    train_time0: float  # the population's training clock when it joined
    started: float  # perf_counter when it joined: its Result's wall time counts from there
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)

    @property
    def order(self) -> tuple[int, int]:
        """Its data order's key: members with equal keys draw the same permutations."""
        return (self.config.seed, self.joined)


class _MemberState:
    """``optimizer.state`` as the rewire step reads it: the member's slice of the population's state."""

    def __init__(self, pop: Population, member: Member) -> None:
        self.pop, self.member = pop, member

    @property
    def state(self) -> dict[Any, dict[str, torch.Tensor]]:
        row = self.pop.members.index(self.member)
        net = self.pop.net
        return {
            self.member.prep.layer.weight: {k: net.weight_slice(v) for k, v in self.pop.opt.state_of(0, row).items()}
        }


class Population:
    """The lockstep training of the members; compacted when members leave, rebuilt when some join."""

    def __init__(self, configs: Sequence[DendriticConfig], reporters: Sequence[Reporter], ctx: RunContext) -> None:
        self.ctx, self.device = ctx, torch.device(ctx.device)
        self.data = load_data(configs[0], ctx)
        self.n = self.data.train_x.shape[0]
        self.members: list[Member] = []
        self.order_gens: dict[tuple[int, int], torch.Generator] = {}
        self.net: PopulationDANN | None = None
        self.opt: PopulationOptimizer | None = None
        self.epoch, self.steps, self.train_time = 0, 0, 0.0  # population epochs and steps done
        self.join([(i, c, r) for i, (c, r) in enumerate(zip(configs, reporters))])
        self.steps_per_epoch = self.members[0].prep.steps_per_epoch

    def join(self, entries: Sequence[tuple[int, DendriticConfig, Reporter]]) -> None:
        """New members (index, config, reporter; the population's key) start now, at a population
        epoch boundary: each prepared as its run alone is, the stacked model and optimizer rebuilt
        around them."""
        new = []
        for index, cfg, rep in entries:
            prep = prepare(cfg, self.n, self.device)
            sched = schedule_of(cfg, prep.steps_per_epoch)
            new.append(Member(index, cfg, rep, prep, sched, self.epoch, self.train_time, time.perf_counter()))
        kept = list(range(len(self.members)))
        self.members += new
        # Stacking the members' modules copies the stayers' current values (their tensors are views
        # into the old population) and rebinds every module to its row of the new one.
        self.net = PopulationDANN([m.prep.model for m in self.members])
        lrs, wds = [m.config.train.lr for m in new], [m.config.train.weight_decay for m in new]
        if self.opt is None:
            t = new[0].config.train
            self.opt = PopulationOptimizer(self.net.parameters(), t.optimizer, lrs, wds, t.momentum)
        else:
            self.opt = self.opt.resized(kept, self.net.parameters(), lrs, wds)
        for m in new:
            self.order_gens.setdefault(m.order, torch.Generator().manual_seed(m.config.seed))
            if m.prep.plasticity is not None:
                m.prep.plasticity.optimizer = _MemberState(self, m)  # type: ignore[assignment]

    def member_steps(self, m: Member) -> int:
        """The optimizer steps ``m`` has taken (its own step count)."""
        return self.steps - m.joined * self.steps_per_epoch

    def epoch_order(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's permutations, one per distinct data order of the members [G, n], and each
        member's row in them [P]."""
        keys = list(dict.fromkeys(m.order for m in self.members))
        perms = torch.stack([torch.randperm(self.n, generator=self.order_gens[k]) for k in keys])
        groups = torch.tensor([keys.index(m.order) for m in self.members])
        device = self.data.train_x.device
        return perms.to(device), groups.to(device)

    def new_epoch(self) -> None:
        """Zero the running sums of the epoch's training batches (loss, correct), one per member."""
        p, device = len(self.members), self.data.train_x.device
        self.seen_loss = torch.zeros(p, dtype=torch.float64, device=device)
        self.seen_correct = torch.zeros(p, dtype=torch.long, device=device)

    def keep(self, rows: Sequence[int]) -> None:
        """Only the members at ``rows`` (positions in ``members``) train on."""
        self.members = [self.members[j] for j in rows]
        if not rows:
            return  # an empty population: the next join rebuilds it
        self.seen_loss, self.seen_correct = self.seen_loss[rows], self.seen_correct[rows]
        self.net = self.net.select(rows)
        self.opt = self.opt.select(rows, self.net.parameters())

    def set_rates(self) -> None:
        """Each member's learning rate for its next step, from its own schedule."""
        if any(m.schedule for m in self.members):
            self.opt.set_lrs(
                [m.schedule(self.member_steps(m)) if m.schedule else m.config.train.lr for m in self.members]
            )

    def step(self, rows: torch.Tensor, groups: torch.Tensor) -> None:
        """One optimizer step of every member; member j trains on batch ``rows[groups[j]]``
        (``rows`` [G, B]: indices, one batch per distinct data order)."""
        x, y = self.data.train_x, self.data.train_y
        g = rows.shape[0]
        xb = F.embedding(rows.reshape(-1), x).view(g, -1, x.shape[1])  # every distinct batch, one gather
        yb = y.index_select(0, rows.reshape(-1)).view(g, -1).index_select(0, groups)
        out = self.net(xb, groups)
        logp = F.log_softmax(out, dim=-1)
        # Sum over members of each member's mean cross-entropy: its own gradients, one graph.
        picked = -logp.gather(2, yb.unsqueeze(2)).mean(1)
        # A member with label smoothing: torch's own cross_entropy on its slice of the logits, as its
        # run alone calls it (the same value and gradients); the others' rows as above. Each row's
        # gradient comes from one of the two paths, the other adding exact zeros.
        eps = {j: m.config.train.label_smoothing for j, m in enumerate(self.members) if m.config.train.label_smoothing}
        smoothed = {j: F.cross_entropy(out[j], yb[j], label_smoothing=e) for j, e in eps.items()}
        if smoothed:
            plain = [j for j in range(len(self.members)) if j not in smoothed]
            loss = picked[plain].sum() + torch.stack(list(smoothed.values())).sum()
        else:
            loss = picked.sum()
        with torch.no_grad():  # the running means, each member's by nll_loss: cross_entropy's value
            each = [smoothed[j] if j in smoothed else F.nll_loss(logp[j], yb[j]) for j in range(yb.shape[0])]
            self.seen_loss += torch.stack(each).double() * yb.shape[1]
            self.seen_correct += (out.argmax(-1) == yb).sum(1)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps += 1

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Per member: :func:`core.train.evaluate`'s mean loss and accuracy, summed alike."""
        p = len(self.members)
        loss = torch.zeros(p, device=x.device)
        correct = torch.zeros(p, device=x.device, dtype=torch.long)
        for i in range(0, x.shape[0], _EVAL_CHUNK):
            out, yc = self.net.forward_shared(x[i : i + _EVAL_CHUNK]), y[i : i + _EVAL_CHUNK]
            logp = F.log_softmax(out, dim=-1)
            # each member's sum by nll_loss itself: cross_entropy's own reduction order
            loss += torch.stack([F.nll_loss(logp[j], yc, reduction="sum") for j in range(p)])
            correct += (out.argmax(-1) == yc).sum(-1)
        n = x.shape[0]
        return [v / n for v in loss.tolist()], [v / n for v in correct.tolist()]
