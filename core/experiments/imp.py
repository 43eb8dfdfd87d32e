"""``imp``: lottery tickets by iterative magnitude pruning on k concatenated tasks.

Builds the data and a masked MLP from :class:`ImpConfig`, runs IMP level by level
(:func:`core.lottery.imp.run_imp`), analyses every level (counts, accuracies, zombies,
comatose, split, the minimum cut between the tasks) and reports it, then summarises the run: first
split level, accuracy there, "still a ticket", "split while a ticket", the theoretical minimum
removal P(k−1)/k, and the cut at the last level and the first level where it is 0
(:func:`core.analysis.cut.cut_summary`). ``Result.extra["run_data"]`` is the run's JSON-ready
data for the trial's record: the cut per level and every hidden neuron's state and bias per
level (:func:`core.analysis.neurons.track_neurons`).
Accuracies come in validation / test twins (``val_<X>`` / ``test_<X>``); every decision and
the objective read validation (see :func:`core.analysis.level.split_summary`). The data and
their train / val / test rows come from ``data.seed`` alone, the initialisation and batch order
from ``seed``, so runs that differ only in ``seed`` are replicates on the same rows. Pictures and
weight trajectories are written under the run's workdir and returned as artifacts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from core.analysis.cut import cut_summary
from core.analysis.level import level_metrics, split_summary, trajectories
from core.analysis.neurons import track_neurons
from core.config import config_hash
from core.contract import Reporter, Result, RunContext, register_experiment
from core.data.tasks import SplitData, concat_tasks, split_rows
from core.lottery.config import MNIST_TASKS, ImpConfig
from core.lottery.imp import LevelOutcome, OnLevel, run_imp
from core.lottery.pruning import prunable_names
from core.lottery.train import TrainStats
from core.nets.mlp import MaskedMLP

__all__ = [
    "ImpConfig",
    "run_imp_experiment",
    "build_data",
    "build_model",
    "final_metrics",
    "level_callback",
    "imp_result",
    "REPORTED",
]

# Per-level keys passed to the reporter (everything else stays in the level history).
REPORTED = (
    "val_acc",
    "val_min_task_acc",
    "val_loss",
    "test_acc",
    "test_min_task_acc",
    "n_params",
    "prunable",
    "split",
    "cut_weights",
    "cut_mass",
    "zombies",
    "comatose",
    "zombie_bias_pos",
)  # zombies whose bias is > 0: alive by bias alone


def final_metrics(history: list[dict[str, float]], summary: dict[str, float]) -> dict[str, float]:
    """A run's final metrics from its level history (last level) and its split summary."""
    last = history[-1]
    keep = (
        "val_acc",
        "val_min_task_acc",
        "test_acc",
        "test_min_task_acc",
        "n_params",
        "prunable",
        "weight_frac",
        "zombies",
        "comatose",
        "split",
    )
    return {
        **{k: last[k] for k in keep},
        "levels_done": float(len(history) - 1),
        "max_zombies": max(h["zombies"] for h in history),
        "max_comatose": max(h["comatose"] for h in history),
        **summary,
    }


def build_data(cfg: ImpConfig, ctx: RunContext) -> SplitData:
    """The concatenated train / val / test splits ``cfg.data`` asks for (``data.seed``, never ``seed``)."""
    d = cfg.data
    if d.task in MNIST_TASKS:
        from core.data.mnist_pairs import mnist_tasks

        directory = d.mnist_dir or (str(ctx.data_dir) if ctx.data_dir else None)
        return mnist_tasks(d, directory, d.seed).to(ctx.device)
    x, y, layout = concat_tasks([d.task] * d.k, d.n_samples, d.noise, d.seed)
    train, val, test = split_rows(x, y, d.val_frac, d.test_frac, d.seed)
    return SplitData(train, val, test, layout).to(ctx.device)


def build_model(cfg: ImpConfig, data: SplitData) -> MaskedMLP:
    """The dense masked MLP, initialised from ``cfg.seed`` alone."""
    torch.manual_seed(cfg.seed)
    return MaskedMLP(data.layout.n_in, cfg.model.widths, data.layout.n_out, cfg.model.activation)


def level_callback(cfg: ImpConfig, data: SplitData, reporter: Reporter) -> OnLevel:
    """The ``on_level`` of one run: analyse the level, report its ``REPORTED`` keys, return all metrics."""

    def on_level(level: int, model: MaskedMLP, stats: TrainStats | None) -> dict[str, float]:
        metrics, _graph = level_metrics(model, data, cfg.imp.prune_bias)
        metrics.update(level=float(level), train_steps=float(stats.steps), best_epoch=float(stats.best_epoch))
        reporter.report(level, {k: metrics[k] for k in REPORTED})
        return metrics

    return on_level


def imp_result(
    cfg: ImpConfig, model: MaskedMLP, levels: list[LevelOutcome], data: SplitData, start: float, out_dir: Path
) -> Result:
    """A finished run's Result: final metrics, split and cut summaries, trajectories and pictures under
    ``out_dir``; ``extra["run_data"]`` the cut per level and the neuron record (core.analysis.neurons)."""
    history = [lv.metrics for lv in levels]
    summary = {
        **split_summary(history, data.layout.k, cfg.analysis.ticket_tolerance),
        **cut_summary(history, data.layout.k),
    }
    metrics = {**final_metrics(history, summary), "wall_time_s": time.perf_counter() - start}
    artifacts: dict[str, Path] = {}
    traj = None
    if cfg.analysis.trajectories:
        out_dir.mkdir(parents=True, exist_ok=True)
        wnames = [n for n in model.param_masks() if n.endswith("weight")]
        traj = trajectories([lv.trained for lv in levels], wnames, [lv.masks for lv in levels])
        artifacts["trajectories"] = out_dir / "imp_trajectories.npz"
        np.savez_compressed(artifacts["trajectories"], values=traj.astype(np.float32))
    if cfg.analysis.plots:
        from core.experiments.imp_plots import imp_figures

        artifacts.update(imp_figures(history, levels, data.layout, summary, out_dir, traj))
    # Run data (stored with the trial as JSON): the cut per level and every hidden neuron's state and bias.
    run_data = {
        "cut_weights": [h.get("cut_weights") for h in history],  # None: a level from an older checkpoint
        "cut_mass": [h.get("cut_mass") for h in history],
        "neurons": track_neurons([(lv.masks, lv.trained) for lv in levels]),
    }
    extra = {"history": history, "config_hash": config_hash(cfg), "run_data": run_data}
    return Result(metrics=metrics, artifacts=artifacts, extra=extra)


def check_data(cfg: ImpConfig, ctx: RunContext) -> None:
    """For the MNIST tasks: MNIST is there (downloaded when missing) and every file is the original."""
    if cfg.data.task in MNIST_TASKS:
        from core.data.mnist import ensure_mnist

        ensure_mnist(cfg.data.mnist_dir or ctx.data_dir)


@register_experiment("imp", ImpConfig, check_data=check_data, step_unit="IMP level")
def run_imp_experiment(cfg: ImpConfig, reporter: Reporter, ctx: RunContext) -> Result:
    """IMP on concatenated tasks; reports each level, returns split / ticket metrics and pictures."""
    start = time.perf_counter()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    data = build_data(cfg, ctx)
    model = build_model(cfg, data).to(ctx.device)
    names = prunable_names(list(model.param_masks()), cfg.imp.prune_bias)
    p0 = sum(model.param_masks()[n][1].numel() for n in names)
    # ImpConfig checked the target against its own count of P0; the built model must agree.
    assert p0 == cfg.prunable_count(), (p0, cfg.prunable_count())
    ckpt = Path(ctx.workdir) / "imp_checkpoints" if cfg.checkpoint else None
    levels = run_imp(
        model, data, cfg.train, cfg.imp, cfg.seed, level_callback(cfg, data, reporter), ckpt, config_hash(cfg)
    )
    return imp_result(cfg, model, levels, data, start, Path(ctx.workdir))
