"""``dendritic`` as a population: many dANN trials trained at once in one batched model.

Registered as the ``run_population`` of the ``dendritic`` kind. Configs whose
:func:`dendritic_population_key` agree share tensor shapes, data and the loop's shared knobs
(architecture and widths, every ``data.*`` field (the validation split and its
data seed), data subsets and scaling, optimizer, batch size); each
member keeps its own seed (initialisation, data order, every random draw of its plasticity),
learning rate and its schedule, weight decay, epochs, input sampling, init fan-in, activations and every
``plasticity.*`` field. Members with the same seed draw the same data order, so they share one
batch and one input table per step (common random numbers across trials, less memory traffic).

The reference is :func:`core.experiments.dendritic.run_dendritic`; this module calls its own
parts (``prepare``, ``epoch_metrics``, ``finish``) per member and replaces only the batched
training steps and evaluation. Rewiring is the reference :class:`~core.plasticity.Plasticity`
of each member, acting on the member's module, whose tensors are views into the population
(:class:`~core.nets.dendritic_batched.PopulationDANN`): measured, a member's rewiring round is a
few dozen small kernels on its own random stream, which a batched version could not share
anyway without giving up the member's exact draws. On CPU each member's reports and Result
equal its unbatched run's, except ``wall_time_s`` and ``train_time_s`` (the population's
clock). A member that diverges, whose plasticity raises, or whose reporter raises (Optuna
pruning, a timeout) leaves the batch; the others go on. Members' figures go to
``ctx.workdir/member_NNN``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from core.contract import Reporter, Result, RunContext, register_population
from core.experiments.dendritic import (
    DendriticConfig,
    epoch_metrics,
    finish,
    load_data,
    prepare,
    run_dendritic,
    schedule_of,
)
from core.nets.dendritic_batched import PopulationDANN
from core.optim_batched import PopulationOptimizer
from core.reproducible import warn_unless_strict
from core.train import epoch_report

__all__ = ["dendritic_population_key", "run_dendritic_population"]

_EVAL_CHUNK = 1024  # core.train.evaluate's chunk: the loss sums in the same order


def dendritic_population_key(cfg: DendriticConfig) -> Hashable:
    """What must agree for configs to train in one population (shapes, data, the shared loop).

    Not the run's ``seed``: seed replicates of one configuration share a population.
    """
    m, t = cfg.model, cfg.train
    model = (
        m.architecture,
        m.n_inputs,
        m.n_somata,
        m.dendrites_per_soma,
        m.synapses_per_dendrite,
    )
    momentum = t.momentum if t.optimizer == "sgd" else None
    data = tuple(sorted(dataclasses.asdict(cfg.data).items()))  # every data field: the members share data
    return (
        "dendritic",
        model,
        (t.input_scaling, t.train_subset, t.test_subset),
        data,
        (t.optimizer, momentum, t.batch_size),
    )


class _MemberState:
    """``optimizer.state`` as the rewire step reads it: the member's slice of the population's state."""

    def __init__(self, run: _Population, member: int) -> None:
        self.run, self.member = run, member

    @property
    def state(self) -> dict[Any, dict[str, torch.Tensor]]:
        row = self.run.active.index(self.member)
        layer = self.run.preps[self.member].layer
        net = self.run.net
        return {layer.weight: {k: net.weight_slice(v) for k, v in self.run.opt.state_of(0, row).items()}}


class _Population:
    """The lockstep training of the active members; compacted when members leave."""

    def __init__(self, configs: Sequence[DendriticConfig], ctx: RunContext) -> None:
        self.configs, self.ctx = list(configs), ctx
        self.device = torch.device(ctx.device)
        self.data = load_data(configs[0], ctx)
        n = self.data.train_x.shape[0]
        self.preps = [prepare(c, n, self.device) for c in configs]
        self.active = list(range(len(configs)))
        self.net = PopulationDANN([p.model for p in self.preps])
        t = configs[0].train
        self.opt = PopulationOptimizer(
            self.net.parameters(),
            t.optimizer,
            [c.train.lr for c in configs],
            [c.train.weight_decay for c in configs],
            t.momentum,
        )
        for i, prep in enumerate(self.preps):
            if prep.plasticity is not None:
                prep.plasticity.optimizer = _MemberState(self, i)  # type: ignore[assignment]
        self.schedules = [schedule_of(c, self.preps[0].steps_per_epoch) for c in configs]
        # One data order per distinct seed: members with the same seed draw the same permutations
        # (as their runs alone would), so they share one batch and one input table per step.
        self.order_gens = {c.seed: torch.Generator().manual_seed(c.seed) for c in configs}

    def epoch_order(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's permutations, one per distinct seed of the active members [G, n], and
        each active member's row in them [P]."""
        seeds = list(dict.fromkeys(self.configs[i].seed for i in self.active))
        perms = torch.stack([torch.randperm(n, generator=self.order_gens[s]) for s in seeds])
        groups = torch.tensor([seeds.index(self.configs[i].seed) for i in self.active])
        device = self.data.train_x.device
        return perms.to(device), groups.to(device)

    def new_epoch(self) -> None:
        """Zero the running sums of the epoch's training batches (loss, correct), one per member."""
        p, device = len(self.active), self.data.train_x.device
        self.seen_loss = torch.zeros(p, dtype=torch.float64, device=device)
        self.seen_correct = torch.zeros(p, dtype=torch.long, device=device)

    def keep(self, rows: Sequence[int]) -> None:
        """Only the members at ``rows`` (positions in ``active``) train on."""
        self.seen_loss, self.seen_correct = self.seen_loss[rows], self.seen_correct[rows]
        self.net = self.net.select(rows)
        self.opt = self.opt.select(rows, self.net.parameters())
        self.active = [self.active[j] for j in rows]

    def set_rates(self, step: int) -> None:
        """Each active member's learning rate for the step after ``step``, from its own schedule."""
        if any(self.schedules[i] for i in self.active):
            lrs = [s(step) if (s := self.schedules[i]) else self.configs[i].train.lr for i in self.active]
            self.opt.set_lrs(lrs)

    def step(self, rows: torch.Tensor, groups: torch.Tensor) -> None:
        """One optimizer step of every active member; member j trains on batch ``rows[groups[j]]``
        (``rows`` [G, B]: indices, one batch per distinct data order)."""
        x, y = self.data.train_x, self.data.train_y
        g = rows.shape[0]
        xb = F.embedding(rows.reshape(-1), x).view(g, -1, x.shape[1])  # every distinct batch, one gather
        yb = y.index_select(0, rows.reshape(-1)).view(g, -1).index_select(0, groups)
        out = self.net(xb, groups)
        logp = F.log_softmax(out, dim=-1)
        # Sum over members of each member's mean cross-entropy: its own gradients, one graph.
        loss = -logp.gather(2, yb.unsqueeze(2)).mean(1).sum()
        with torch.no_grad():  # the running means, each member's by nll_loss: cross_entropy's value
            each = torch.stack([F.nll_loss(logp[j], yb[j]) for j in range(yb.shape[0])])
            self.seen_loss += each.double() * yb.shape[1]
            self.seen_correct += (out.argmax(-1) == yb).sum(1)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Per active member: :func:`core.train.evaluate`'s mean loss and accuracy, summed alike."""
        p = len(self.active)
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


def _alone(configs, reporters, ctx) -> list[Result | BaseException]:
    out: list[Result | BaseException] = []
    for i, (cfg, rep) in enumerate(zip(configs, reporters)):
        try:
            out.append(run_dendritic(cfg, rep, dataclasses.replace(ctx, workdir=Path(ctx.workdir) / f"member_{i:03d}")))
        except Exception as err:  # noqa: BLE001  (one member's error is its own outcome)
            out.append(err)
    return out


def _end_epoch(
    pop: _Population,
    configs,
    reporters,
    ctx: RunContext,
    epoch: int,
    step: int,
    train_time: float,
    histories: list,
    results: list,
    start: float,
) -> list[int]:
    """Evaluate, check, report (and finish) every active member as ``core.train.train`` does after
    an epoch; the error of a member that diverged or whose reporter raised goes to ``results``.
    Returns the positions of the members that train on."""
    data = pop.data
    n = data.train_x.shape[0]
    cache: dict[int, tuple[list[float], list[float]]] = {}  # one batched pass per set, for every member

    def evaluate_on(j: int):
        def on(xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
            if id(xs) not in cache:
                cache[id(xs)] = pop.evaluate(xs, ys)
            return cache[id(xs)][0][j], cache[id(xs)][1][j]

        return on

    seen_loss, seen_correct = pop.seen_loss.tolist(), pop.seen_correct.tolist()
    stay = []
    for j, i in enumerate(pop.active):
        try:
            full = configs[i].curves or epoch >= configs[i].train.epochs
            metrics = epoch_report(evaluate_on(j), data, epoch, seen_loss[j] / n, seen_correct[j] / n, full=full)
            metrics.update(train_time_s=train_time, steps=float(step))
            metrics.update(epoch_metrics(pop.preps[i]))
            reporters[i].report(epoch, metrics)
            histories[i].append(metrics)
            if epoch >= configs[i].train.epochs:
                member_ctx = dataclasses.replace(ctx, workdir=Path(ctx.workdir) / f"member_{i:03d}")
                results[i] = finish(configs[i], member_ctx, pop.preps[i], histories[i], start)
                continue
            stay.append(j)
        except Exception as err:  # noqa: BLE001  (diverged, pruned, timed out: this member only)
            results[i] = err
    return stay


@register_population("dendritic", key=dendritic_population_key)
def run_dendritic_population(
    configs: Sequence[DendriticConfig], reporters: Sequence[Reporter], ctx: RunContext
) -> list[Result | BaseException]:
    """Train ``configs`` (equal :func:`dendritic_population_key`) as one population; a Result or exception each."""
    start = time.perf_counter()
    if len({dendritic_population_key(c) for c in configs}) > 1:
        raise ValueError("run_population: configs differ in dendritic_population_key; group them by the key first")
    warn_unless_strict(ctx.device)
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    if configs[0].model.architecture != "dendritic":
        return _alone(configs, reporters, ctx)  # the dense baseline has no batched form: one at a time
    pop = _Population(configs, ctx)
    results: list[Result | BaseException | None] = [None] * len(configs)
    histories: list[list[dict[str, float]]] = [[] for _ in configs]
    x, tc = pop.data.train_x, configs[0].train
    n, bs, spe = x.shape[0], tc.batch_size, pop.preps[0].steps_per_epoch
    step, train_time, epoch = 0, 0.0, 0
    while pop.active:
        epoch += 1
        t0 = time.perf_counter()
        perms, groups = pop.epoch_order(n)
        pop.new_epoch()
        for b in range(spe):
            pop.set_rates(step)
            pop.step(perms[:, b * bs : (b + 1) * bs], groups)
            step += 1
            failed = []
            for j, i in enumerate(pop.active):
                plast = pop.preps[i].plasticity
                try:
                    if plast is not None:
                        plast(step, b)  # the member's own rounds, through its views
                except Exception as err:  # noqa: BLE001  (a broken member leaves; the others go on)
                    results[i] = err
                    failed.append(j)
            if failed:
                rows = [j for j in range(len(pop.active)) if j not in failed]
                groups = groups[rows]  # a data order left without members is still drawn: harmless
                pop.keep(rows)
                if not pop.active:
                    break
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
        train_time += time.perf_counter() - t0
        if not pop.active:
            break
        stay = _end_epoch(pop, configs, reporters, ctx, epoch, step, train_time, histories, results, start)
        if len(stay) < len(pop.active):
            if stay:
                pop.keep(stay)
            else:
                pop.active = []
    return results  # type: ignore[return-value]
