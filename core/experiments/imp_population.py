"""``imp`` as a population: many IMP trials trained at once in one batched model.

Registered as the ``run_population`` of the ``imp`` kind. Configs whose
:func:`imp_population_key` agree share tensor shapes and the training loop's shared knobs
(data sizes, widths, activation, optimizer and sgd's momentum, batch size, epoch and step caps); they may differ
in seed, data seed and noise (toy tasks), learning rate, weight decay, patience, min_delta,
every ``imp.*`` field and ``analysis.*``. Member i reports through ``reporters[i]`` with the same per-level keys as
:func:`core.experiments.imp.run_imp_experiment` and gets the same Result, with two
differences: ``wall_time_s`` is the time from the start of the population to the member's
end, and the population writes no checkpoints (each member's files go under
``ctx.workdir/member_NNN``).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from pathlib import Path

import torch

from core.contract import Reporter, Result, RunContext, register_population
from core.data.tasks import SplitData
from core.experiments.imp import build_data, build_model, imp_result, level_callback
from core.lottery.config import MNIST_TASKS, ImpConfig, TasksConfig
from core.lottery.imp_batched import Member, run_imp_population
from core.reproducible import warn_unless_strict

__all__ = ["imp_population_key", "run_imp_population_experiment"]


def imp_population_key(cfg: ImpConfig) -> Hashable:
    """What must agree for configs to train in one population (shapes and the shared loop)."""
    d, t = cfg.data, cfg.train
    # Toy tasks: every member may draw its own data (its data seed, its noise); only sizes must
    # agree. MNIST tasks are large, so members share one copy: same data section (data.seed
    # included). Neither depends on ``seed``, so a configuration's seed replicates train together.
    data = (d.task, d.k, d.n_samples, d.val_frac, d.test_frac)
    if d.task in MNIST_TASKS:
        data = (d.task, d.k, d.digits, d.mnist_val, d.mnist_dir, d.seed)
    model = (tuple(cfg.model.widths), cfg.model.activation)
    momentum = t.momentum if t.optimizer == "sgd" else None
    return ("imp", data, model, (t.optimizer, momentum, t.batch_size, t.max_epochs, t.max_steps))


@register_population("imp", key=imp_population_key)
def run_imp_population_experiment(
    configs: Sequence[ImpConfig], reporters: Sequence[Reporter], ctx: RunContext, mode: str = "bmm"
) -> list[Result | BaseException]:
    """Train ``configs`` (equal :func:`imp_population_key`) as one population; a Result or exception each."""
    start = time.perf_counter()
    if len({imp_population_key(c) for c in configs}) > 1:
        raise ValueError("run_population: configs differ in imp_population_key; group them by the key first")
    warn_unless_strict(ctx.device)
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    cache: dict[TasksConfig, SplitData] = {}
    members: list[Member] = []
    for cfg in configs:
        if cfg.data not in cache:  # members with the same data section (seed replicates) share one copy
            cache[cfg.data] = build_data(cfg, ctx)
        data = cache[cfg.data]
        model = build_model(cfg, data).to(ctx.device)
        members.append(Member(model, data, cfg.train, cfg.imp, cfg.seed, cfg.model.activation))
    results: list[Result | BaseException | None] = [None] * len(configs)
    # Each member's level callback and Result are the reference's own (core.experiments.imp).
    callbacks = [level_callback(cfg, m.data, rep) for cfg, m, rep in zip(configs, members, reporters)]

    def on_level(i: int, level: int, model, stats) -> dict[str, float]:
        return callbacks[i](level, model, stats)

    def on_done(i: int, m: Member) -> None:
        results[i] = imp_result(configs[i], m.model, m.levels, m.data, start, Path(ctx.workdir) / f"member_{i:03d}")

    errors = run_imp_population(members, on_level, on_done, mode)
    return [err if err is not None else res for err, res in zip(errors, results)]  # type: ignore[misc]
