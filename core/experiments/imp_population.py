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
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np
import torch

from core.analysis.level import level_metrics, split_summary, trajectories
from core.config import config_hash
from core.contract import Reporter, Result, RunContext, register_population
from core.data.tasks import SplitData
from core.experiments.imp import REPORTED, build_data, build_model, final_metrics
from core.lottery.config import MNIST_TASKS, DataConfig, ImpConfig
from core.lottery.imp_batched import Member, run_imp_population

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


def _summary(cfg: ImpConfig, m: Member, data: SplitData, start: float, out_dir: Path) -> Result:
    """The member's Result, built as :func:`core.experiments.imp.run_imp_experiment` builds it."""
    levels = m.levels
    history = [lv.metrics for lv in levels]
    summary = split_summary(history, data.layout.k, cfg.analysis.ticket_tolerance)
    metrics = {**final_metrics(history, summary), "wall_time_s": time.perf_counter() - start}
    artifacts: dict[str, Path] = {}
    traj = None
    if cfg.analysis.trajectories:
        out_dir.mkdir(parents=True, exist_ok=True)
        wnames = [n for n in m.model.param_masks() if n.endswith("weight")]
        traj = trajectories([lv.trained for lv in levels], wnames, [lv.masks for lv in levels])
        artifacts["trajectories"] = out_dir / "imp_trajectories.npz"
        np.savez_compressed(artifacts["trajectories"], values=traj.astype(np.float32))
    if cfg.analysis.plots:
        from core.experiments.imp_plots import imp_figures

        artifacts.update(imp_figures(history, levels, data.layout, summary, out_dir, traj))
    extra = {"history": history, "config_hash": config_hash(cfg)}
    return Result(metrics=metrics, artifacts=artifacts, extra=extra)


@register_population("imp", key=imp_population_key)
def run_imp_population_experiment(
    configs: Sequence[ImpConfig], reporters: Sequence[Reporter], ctx: RunContext, mode: str = "bmm"
) -> list[Result | BaseException]:
    """Train ``configs`` (equal :func:`imp_population_key`) as one population; a Result or exception each."""
    start = time.perf_counter()
    if len({imp_population_key(c) for c in configs}) > 1:
        raise ValueError("run_population: configs differ in imp_population_key; group them by the key first")
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    cache: dict[DataConfig, SplitData] = {}
    members: list[Member] = []
    for cfg in configs:
        if cfg.data not in cache:  # members with the same data section (seed replicates) share one copy
            cache[cfg.data] = build_data(cfg, ctx)
        data = cache[cfg.data]
        model = build_model(cfg, data).to(ctx.device)
        members.append(Member(model, data, cfg.train, cfg.imp, cfg.seed, cfg.model.activation))
    results: list[Result | BaseException | None] = [None] * len(configs)

    def on_level(i: int, level: int, model, stats) -> dict[str, float]:
        metrics, _graph = level_metrics(model, members[i].data, configs[i].imp.prune_bias)
        metrics.update(level=float(level), train_steps=float(stats.steps), best_epoch=float(stats.best_epoch))
        reporters[i].report(level, {k: metrics[k] for k in REPORTED})
        return metrics

    def on_done(i: int, m: Member) -> None:
        results[i] = _summary(configs[i], m, m.data, start, Path(ctx.workdir) / f"member_{i:03d}")

    errors = run_imp_population(members, on_level, on_done, mode)
    return [err if err is not None else res for err, res in zip(errors, results)]  # type: ignore[misc]
