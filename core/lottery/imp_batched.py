"""IMP for a population of runs at once: one batched model, each member its own run.

The readable reference is :func:`core.lottery.imp.run_imp` with
:func:`core.lottery.train.train_level`; this module does the same for P members whose
tensor shapes agree, in one :class:`~core.nets.mlp_batched.PopulationMLP`. Each member
keeps its own init, data, data order (its own generator per level), learning rate, weight
decay, patience, pruning schedule, scope, rewinding step and number of levels. A member that
stops early, diverges, or whose level callback raises leaves the batch (the tensors are
compacted, so it costs nothing afterwards); the others go on. Levels run in lockstep.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch.nn import functional as F

from core.data.tasks import SplitData, TaskLayout
from core.errors import Diverged
from core.lottery.config import ImpSection, ImpTrainConfig

# The reference's own helpers (seed rule, pruning, level finish), so the paths cannot drift.
from core.lottery.imp import (
    LevelOutcome,
    finish_level,
    level_seed,
    load_params,
    masks_of,
    params_of,
    prune_and_rewind,
    prune_plan,
)
from core.lottery.train import TrainStats
from core.nets.mlp import MaskedMLP
from core.nets.mlp_batched import PopulationMLP
from core.optim_batched import PopulationOptimizer

__all__ = ["Member", "MemberLevel", "stack_rows", "train_population_level", "run_imp_population"]

_EPOCH_GATHER_BYTES = 64 << 20  # above this, minibatches are gathered one by one

# (member index, level, the member's model after the level, its training stats) → level metrics
OnMemberLevel = Callable[[int, int, MaskedMLP, TrainStats], Mapping[str, float]]


@dataclass
class Member:
    """One run of the population: its model (init, later its current state), data and configs."""

    model: MaskedMLP
    data: SplitData
    train: ImpTrainConfig
    imp: ImpSection
    seed: int
    activation: str = "relu"
    levels: list[LevelOutcome] = field(default_factory=list)
    rewind: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class MemberLevel:
    """One member's outcome of a population level: best parameters and stats, or the error."""

    state: dict[str, torch.Tensor] | None = None
    stats: TrainStats | None = None
    captured: dict[str, torch.Tensor] | None = None  # parameters after the rewind step (level 0)
    error: BaseException | None = None


def stack_rows(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The members' tensors stacked [P, ...]; one shared tensor becomes a stride-0 view, not P copies (MNIST)."""
    if all(t is tensors[0] for t in tensors):
        return tensors[0].unsqueeze(0).expand(len(tensors), *tensors[0].shape)
    return torch.stack(list(tensors))


@torch.no_grad()
def _val_losses(
    net: PopulationMLP, x: torch.Tensor, y: torch.Tensor, layout: TaskLayout, batch: int = 10_000
) -> list[float]:
    """Per-member validation loss, summed exactly as :func:`core.lottery.train.evaluate` does."""
    (p, n), k = x.shape[:2], layout.k
    sums = torch.zeros(p, dtype=torch.float64)
    for b in range(0, n, batch):
        logits, yb = net(x[:, b : b + batch]), y[:, b : b + batch]
        # One log-softmax for all, then each member's mean by nll_loss: cross_entropy's own
        # arithmetic (a batched mean would round differently); one host sync per chunk.
        logp = F.log_softmax(logits.view(p, logits.shape[1], k, -1), dim=-1)
        chunk = [sum(F.nll_loss(logp[i, :, j], yb[i, :, j]) for j in range(k)) for i in range(p)]
        values = torch.stack(chunk).tolist()  # type: ignore[arg-type]
        sums += torch.tensor(values, dtype=torch.float64) * logits.shape[1]
    return [float(s) / n for s in sums]


def _batch_loss(logits: torch.Tensor, y: torch.Tensor, layout: TaskLayout) -> torch.Tensor:
    """Sum over members of each member's ``task_loss``: the same gradients per member, one graph.

    The k tasks of a population are copies of one task (same class count), so one
    log-softmax over [P, B, k, classes] serves them all; mean over rows, sum over tasks.
    """
    p, b, _ = logits.shape
    logp = F.log_softmax(logits.view(p, b, layout.k, layout.n_classes[0]), dim=-1)
    return -logp.gather(3, y.unsqueeze(3)).mean(1).sum()


def _batches(x: torch.Tensor, y: torch.Tensor, orders: torch.Tensor, size: int):
    """The epoch's minibatches [P, size, ...] in each member's own order."""
    p, n = orders.shape
    if x.stride(0) == 0:  # shared data: index the one copy
        flat, idx = (x[0], y[0]), orders
    else:
        flat = (x.reshape(p * n, *x.shape[2:]), y.reshape(p * n, *y.shape[2:]))
        idx = orders + torch.arange(p, device=orders.device).unsqueeze(1) * n
    if x[0].numel() * p * x.element_size() <= _EPOCH_GATHER_BYTES:
        # small data: gather the whole epoch once
        xs, ys = (t.index_select(0, idx.reshape(-1)).view(p, n, *t.shape[1:]) for t in flat)
        for b in range(0, n, size):
            yield xs[:, b : b + size], ys[:, b : b + size]
    else:  # large data (MNIST): gather each batch, never a shuffled copy per member
        for b in range(0, n, size):
            rows = idx[:, b : b + size]
            yield tuple(t.index_select(0, rows.reshape(-1)).view(p, -1, *t.shape[1:]) for t in flat)


def _take(t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    # Shared data stays a view (stride 0 over members) when the population shrinks.
    if t.shape[0] > 1 and t.stride(0) == 0:
        return t[:1].expand(len(rows), *t.shape[1:])
    return t.index_select(0, rows)


def train_population_level(
    net: PopulationMLP,
    datas: Sequence[SplitData],
    cfgs: Sequence[ImpTrainConfig],
    seeds: Sequence[int],
    capture_steps: Sequence[int] | None = None,
) -> list[MemberLevel]:
    """:func:`core.lottery.train.train_level` for every member of ``net`` at once.

    ``cfgs`` must agree on optimizer (and sgd's momentum), batch size, max_epochs and max_steps (the population
    key); lr, weight decay, patience and min_delta are per member. ``capture_steps[p]`` > 0
    asks for member p's parameters after that optimizer step (IMP's rewinding point).
    """
    shared = cfgs[0]
    layout = datas[0].layout
    active = list(range(len(cfgs)))
    xt, yt = stack_rows([d.train.x for d in datas]), stack_rows([d.train.y for d in datas])
    xv, yv = stack_rows([d.val.x for d in datas]), stack_rows([d.val.y for d in datas])
    device = xt.device
    opt = PopulationOptimizer(
        net.parameters(), shared.optimizer, [c.lr for c in cfgs], [c.weight_decay for c in cfgs], shared.momentum
    )
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    best_val, best_epoch, bad = [math.inf] * len(cfgs), [0] * len(cfgs), [0] * len(cfgs)
    best = net.flat.detach().clone()
    out: list[MemberLevel | None] = [None] * len(cfgs)
    captured: dict[int, dict[str, torch.Tensor]] = {}
    n, step, epoch = xt.shape[1], 0, 0
    wanted = {s for s in capture_steps or () if s > 0}
    while active and epoch < shared.max_epochs and not (shared.max_steps and step >= shared.max_steps):
        epoch += 1
        orders = torch.stack([torch.randperm(n, generator=gens[p]) for p in active]).to(device)
        for xb, yb in _batches(xt, yt, orders, shared.batch_size):
            loss = _batch_loss(net(xb), yb, layout)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step in wanted:
                for j, p in enumerate(active):
                    if capture_steps[p] == step:
                        captured[p] = net.member(j)
            if shared.max_steps and step >= shared.max_steps:
                break
        vals = _val_losses(net, xv, yv, layout)
        keep, improved, leaving = [], [], []
        for j, p in enumerate(active):
            val, cfg = vals[j], cfgs[p]
            if not math.isfinite(val):
                out[p] = MemberLevel(error=Diverged(f"validation loss is {val} at epoch {epoch}"))
                continue
            if val < best_val[p] - cfg.min_delta:
                best_val[p], best_epoch[p], bad[p] = val, epoch, 0
                improved.append(j)
            else:
                bad[p] += 1
                if bad[p] >= cfg.patience:
                    leaving.append(j)
                    continue
            keep.append(j)
        if improved:
            # Copy the improved members' rows into the best state (the reference's state_dict clone).
            rows_i = torch.tensor(improved, dtype=torch.long, device=device)
            best.index_copy_(0, rows_i, net.flat.detach().index_select(0, rows_i))
        for j in leaving:
            p = active[j]
            stats = TrainStats(step, epoch, best_epoch[p], best_val[p])
            out[p] = MemberLevel(net.member(j, best), stats, captured.get(p))
        if not keep:
            active = []
        elif len(keep) < len(active):
            net = net.select(keep)
            opt = opt.select(keep, net.parameters())
            sel = torch.tensor(keep, dtype=torch.long, device=device)
            best = best.index_select(0, sel)
            xt, yt, xv, yv = (_take(t, sel) for t in (xt, yt, xv, yv))
            active = [active[j] for j in keep]
    for j, p in enumerate(active):
        stats = TrainStats(step, epoch, best_epoch[p], best_val[p])
        out[p] = MemberLevel(net.member(j, best), stats, captured.get(p))
    return out  # type: ignore[return-value]


def run_imp_population(
    members: Sequence[Member],
    on_level: OnMemberLevel,
    on_done: Callable[[int, Member], None] | None = None,
    mode: str = "bmm",
) -> list[BaseException | None]:
    """IMP levels 0..``imp.levels`` for every member, in lockstep; ``member.levels`` fills up.

    Returns, per member, ``None`` when it finished (``on_done(i, member)`` was called) or the
    exception that made it leave: :class:`Diverged`, whatever ``on_level`` raised (a
    reporter's pruning signal), or a pruning error.
    """
    errors: list[BaseException | None] = [None] * len(members)
    running = list(range(len(members)))
    plans: dict[int, tuple[list[str], dict[str, int]]] = {}  # member → prunable names, initial counts
    level = 0
    while running:
        trainees = []
        for i in running:
            m = members[i]
            try:
                if level == 0:
                    # rewind_step 0: rewind to the initial values, taken before any training.
                    m.rewind = params_of(m.model) if m.imp.rewind_step == 0 else None
                    plans[i] = prune_plan(m.model, m.imp)
                else:
                    prune_and_rewind(m.model, *plans[i], m.imp, level, m.rewind)  # type: ignore[arg-type]
                trainees.append(i)
            except Exception as err:  # a pruning error ends this member only
                errors[i] = err
        if not trainees:
            break
        ms = [members[i] for i in trainees]
        net = PopulationMLP.stack(
            [params_of(m.model) for m in ms], [masks_of(m.model) for m in ms], ms[0].activation, mode
        )
        capture = [m.imp.rewind_step for m in ms] if level == 0 else None
        outcomes = train_population_level(
            net, [m.data for m in ms], [m.train for m in ms], [level_seed(m.seed, level) for m in ms], capture
        )
        running = []
        for i, m, res in zip(trainees, ms, outcomes):
            if res.error is not None:
                errors[i] = res.error
                continue
            load_params(m.model, res.state)  # type: ignore[arg-type]
            if level == 0 and m.rewind is None:
                # Training stopped before the rewind step: rewind to where level 0 ended.
                m.rewind = res.captured if res.captured is not None else params_of(m.model)
            try:  # the reference's level finish, without checkpoints
                outcome = finish_level(m.model, level, res.stats, partial(on_level, i))
            except Exception as err:  # the reporter stopped this member (pruned, interrupted, timed out)
                errors[i] = err
                continue
            m.levels.append(outcome)
            stop = m.imp.stop_at_split and outcome.metrics.get("split", 0.0) >= 1.0
            if level >= m.imp.levels or stop:
                if on_done is not None:
                    try:
                        on_done(i, m)
                    except Exception as err:
                        errors[i] = err
                continue
            running.append(i)
        level += 1
    return errors
