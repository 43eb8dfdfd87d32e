"""``dendritic`` as a population: many dANN trials trained at once in one batched model.

Registered as the ``run_population`` of the ``dendritic`` kind, refilled through a ``feed``
(:class:`core.contract.Feed`). Configs whose :func:`dendritic_population_key` agree share tensor
shapes, data and the loop's shared knobs (architecture and widths, every ``data.*`` field (the
validation split and its data seed), data subsets and scaling, optimizer, batch size); each
member keeps its own seed (initialisation, data order, every random draw of its plasticity),
learning rate and its schedule, weight decay, epochs, input sampling, init fan-in, activations
and every ``plasticity.*`` field, and its own clock (:mod:`core.experiments.dendritic_members`):
a member that joins at a later epoch boundary, into the slot of one that left, starts at its
own epoch 1 with a fresh optimizer state.

The reference is :func:`core.experiments.dendritic.run_dendritic`; this module calls its own
parts (``prepare``, ``epoch_metrics``, ``finish``) per member and replaces only the batched
training steps and evaluation. Rewiring is the reference :class:`~core.plasticity.Plasticity`
of each member, acting on the member's module, whose tensors are views into the population
(:class:`~core.nets.dendritic_batched.PopulationDANN`): measured, a member's rewiring round is a
few dozen small kernels on its own random stream, which a batched version could not share
anyway without giving up the member's exact draws. On CPU each member's reports and Result
equal its unbatched run's, joined late or not, except ``wall_time_s`` and ``train_time_s``
(the population's clock since it joined). A member that diverges, whose plasticity raises, or
whose reporter raises (Optuna pruning, a timeout) leaves the batch; the others go on. Members'
figures go to ``ctx.workdir/member_NNN``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import torch

from core.contract import Feed, Reporter, Result, RunContext, register_population
from core.experiments.dendritic import DendriticConfig, epoch_metrics, finish, run_dendritic
from core.experiments.dendritic_members import Member, Population
from core.reproducible import warn_unless_strict
from core.train import epoch_report

__all__ = ["dendritic_population_key", "run_dendritic_population"]

Outcome = Result | BaseException


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


def _member_ctx(ctx: RunContext, index: int) -> RunContext:
    return dataclasses.replace(ctx, workdir=Path(ctx.workdir) / f"member_{index:03d}")


def _alone(configs, reporters, ctx: RunContext, feed: Feed | None) -> list[Outcome]:
    """The dense baseline has no batched form: its members one after another (and the feed's)."""
    out: list[Outcome] = []
    pairs = list(zip(configs, reporters))
    while pairs:
        for cfg, rep in pairs:
            try:
                got: Outcome = run_dendritic(cfg, rep, _member_ctx(ctx, len(out)))
            except Exception as err:  # noqa: BLE001  (one member's error is its own outcome)
                got = err
            out.append(got)
            if feed is not None:
                feed.done(len(out) - 1, got)
        pairs = list(feed.more(0)) if feed is not None else []
    return out


def _end_epoch(pop: Population, ctx: RunContext, end: Callable[[Member, Outcome], None]) -> None:
    """Evaluate, check, report (and finish) every member as ``core.train.train`` does after one of
    its epochs; a member that diverged, whose reporter raised or stopped, or that finished leaves
    (``end``). The others train on."""
    data = pop.data
    cache: dict[int, tuple[list[float], list[float]]] = {}  # one batched pass per set, for every member

    def evaluate_on(j: int):
        def on(xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
            if id(xs) not in cache:
                cache[id(xs)] = pop.evaluate(xs, ys)
            return cache[id(xs)][0][j], cache[id(xs)][1][j]

        return on

    seen_loss, seen_correct = pop.seen_loss.tolist(), pop.seen_correct.tolist()
    stay = []
    for j, m in enumerate(pop.members):
        try:
            epoch = pop.epoch - m.joined
            full = m.config.curves or epoch >= m.config.train.epochs
            metrics = epoch_report(
                evaluate_on(j), data, epoch, seen_loss[j] / pop.n, seen_correct[j] / pop.n, full=full
            )
            metrics.update(train_time_s=pop.train_time - m.train_time0, steps=float(pop.member_steps(m)))
            metrics.update(epoch_metrics(m.prep))
            m.reporter.report(epoch, metrics)
            m.history.append(metrics)
            if epoch >= m.config.train.epochs:
                end(m, finish(m.config, _member_ctx(ctx, m.index), m.prep, m.history, m.started))
                continue
            stay.append(j)
        except Exception as err:  # noqa: BLE001  (diverged, pruned, timed out: this member only)
            end(m, err)
    # A reporter that a later member's report stopped (a trial pruned through its last seed's
    # report) stops its member now, not one epoch later.
    going = []
    for j in stay:
        m = pop.members[j]
        stopped = getattr(m.reporter, "stopped", None)
        if stopped is not None:
            end(m, stopped)
        else:
            going.append(j)
    if len(going) < len(pop.members):
        pop.keep(going)


@register_population("dendritic", key=dendritic_population_key, refills=True)
def run_dendritic_population(
    configs: Sequence[DendriticConfig], reporters: Sequence[Reporter], ctx: RunContext, *, feed: Feed | None = None
) -> list[Outcome]:
    """Train ``configs`` (equal :func:`dendritic_population_key`) as one population, refilled from
    ``feed`` at epoch boundaries; a Result or exception per member, the joined ones after the
    initial configs in the order they joined."""
    key = dendritic_population_key(configs[0])
    if any(dendritic_population_key(c) != key for c in configs):
        raise ValueError("run_population: configs differ in dendritic_population_key; group them by the key first")
    warn_unless_strict(ctx.device)
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    if configs[0].model.architecture != "dendritic":
        return _alone(configs, reporters, ctx, feed)
    results: dict[int, Outcome] = {}

    def end(m: Member, outcome: Outcome) -> None:
        results[m.index] = outcome
        if feed is not None:
            feed.done(m.index, outcome)

    pop = Population(configs, reporters, ctx)
    counted, bs, spe = len(configs), configs[0].train.batch_size, pop.steps_per_epoch
    while pop.members:
        t0 = time.perf_counter()
        perms, groups = pop.epoch_order()
        pop.new_epoch()
        for b in range(spe):
            pop.set_rates()
            pop.step(perms[:, b * bs : (b + 1) * bs], groups)
            failed = []
            for j, m in enumerate(pop.members):
                try:
                    if m.prep.plasticity is not None:
                        m.prep.plasticity(pop.member_steps(m), b)  # the member's own rounds, through its views
                except Exception as err:  # noqa: BLE001  (a broken member leaves; the others go on)
                    end(m, err)
                    failed.append(j)
            if failed:
                rows = [j for j in range(len(pop.members)) if j not in failed]
                groups = groups[rows]  # a data order left without members is still drawn: harmless
                pop.keep(rows)
                if not pop.members:
                    break
        if pop.data.train_x.is_cuda:
            torch.cuda.synchronize(pop.data.train_x.device)
        pop.train_time += time.perf_counter() - t0
        pop.epoch += 1
        if pop.members:
            _end_epoch(pop, ctx, end)
        pairs = list(feed.more(len(pop.members))) if feed is not None else []
        fits = []
        for k, (cfg, rep) in enumerate(pairs):
            if dendritic_population_key(cfg) == key:
                fits.append((counted + k, cfg, rep))
            else:  # the feed's mistake: this member fails alone
                results[counted + k] = err = ValueError("a member joined with another dendritic_population_key")
                feed.done(counted + k, err)
        if fits:
            pop.join(fits)
        counted += len(pairs)
    return [results[i] for i in range(counted)]
