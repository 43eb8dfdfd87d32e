"""Figures of a ``dendritic`` run as PNG files (matplotlib, Agg backend, no display needed).

Dendrite weights over the 28×28 input grid at the start and the end ("weight over picture
of a dendrite"), weight histograms against the target law (``plasticity.target``; He-normal by default), per-dendrite entropy start vs
end, turnover (synapses moved) over training, synapse lifetimes, train/test curves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.figures import plt, save_figure

__all__ = ["dendritic_figures"]


def _curves(history: list[dict], path: Path) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    # without `curves` the full train/test passes exist for the last epoch only: a lone marker
    for split, label in (("train", "train"), ("train", "train batches (running)"), ("val", "val"), ("test", "test")):
        tag = "_running" if "running" in label else ""
        rows = [(e, h) for e, h in enumerate(history, 1) if f"{split}_loss{tag}" in h]
        if rows:
            ep = [e for e, _h in rows]
            a.plot(ep, [h[f"{split}_loss{tag}"] for _e, h in rows], marker=".", label=label)
            b.plot(ep, [100 * h[f"{split}_acc{tag}"] for _e, h in rows], marker=".", label=label)
    a.set(title="Cross-entropy loss per epoch", xlabel="epoch", ylabel="loss (nats per example)")
    b.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    a.legend(), b.legend()
    return save_figure(fig, path)


def _dendrite_grid(start: np.ndarray, end: np.ndarray, n_show: int, path: Path) -> Path:
    n = min(n_show, start.shape[0])
    side = int(math.isqrt(start.shape[1]))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    lim = max(np.abs(start[:n]).max(), np.abs(end[:n]).max(), 1e-12)
    fig = plt.figure(figsize=(3.4 * cols + 1.2, 1.8 * rows + 0.9), layout="constrained")
    for sub, (w, when) in zip(fig.subfigures(1, 2, width_ratios=[1, 1.18]), ((start, "start"), (end, "end"))):
        axes = sub.subplots(rows, cols, squeeze=False)
        for j, ax in enumerate(axes.flat):
            if j >= n:
                ax.axis("off")
                continue
            im = ax.imshow(w[j].reshape(side, side), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([0, side - 1]), ax.set_yticks([0, side - 1])
            ax.tick_params(labelsize=6)
            ax.set_title(f"dendrite {j}", fontsize=7)
        for ax in axes[-1]:
            ax.set_xlabel("column (px)", fontsize=7)
        for ax in axes[:, 0]:
            ax.set_ylabel("row (px)", fontsize=7)
        sub.suptitle(f"{when} of training")
    # one shared colour scale (vmin/vmax above), so the bar beside "end" holds for both
    sub.colorbar(im, ax=axes, shrink=0.6, label="synapse weight (a.u.)")
    fig.suptitle(f"Synapse weights of {n} dendrites over the {side}x{side} input grid")
    return save_figure(fig, path, tight=False)  # constrained layout


def _histograms(w0: np.ndarray, w1: np.ndarray, target: Any, dist: dict[str, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(min(w0.min(), w1.min()), max(w0.max(), w1.max()), 60)
    # outlines, not filled bars: the spike of freshly grown zero weights must not hide "start"
    for w, when in ((w0, "start"), (w1, "end")):
        tag = f" (KS {dist[f'target_ks_{when}']:.3f}, W1 {dist[f'target_w1_{when}']:.3f})" if dist else ""
        ax.hist(w.ravel(), bins=bins, density=True, histtype="step", lw=1.5, label=when + tag)
    x = torch.linspace(float(bins[0]), float(bins[-1]), 200, dtype=torch.float64)
    ax.plot(x.numpy(), target.pdf(x).numpy(), "k--", label=f"target: {target.family}, std {target.std:.3f}")
    ax.set(title="Synapse weights against the target law", xlabel="synapse weight (a.u.)", ylabel="density (1/a.u.)")
    ax.legend(title="KS, W1: mean over dendrites", fontsize=8, title_fontsize=8)
    return save_figure(fig, path)


def _entropy(e0: np.ndarray, e1: np.ndarray, synapses: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(min(e0.min(), e1.min()), math.log(synapses), 40)
    ax.hist(e0, bins=bins, alpha=0.5, label=f"start (mean {e0.mean():.3f})")
    ax.hist(e1, bins=bins, alpha=0.5, label=f"end (mean {e1.mean():.3f})")
    ax.axvline(math.log(synapses), color="k", ls="--", label=f"maximum log {synapses}")
    ax.set(title="Per-dendrite entropy of normalised |w|", xlabel="entropy (nats)", ylabel="dendrites (count)")
    ax.legend()
    return save_figure(fig, path)


def _turnover(plast: Any, steps_per_epoch: int, epochs: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    ep = (np.asarray(plast.round_steps) - 1) // steps_per_epoch + 1
    moved = np.bincount(ep, weights=np.asarray(plast.round_moved, float), minlength=epochs + 1)[1:]
    ax.bar(np.arange(1, epochs + 1), moved, color="tab:blue", label="synapses moved")
    ax.set(title="Synapse turnover over training", xlabel="epoch", ylabel="synapses moved per epoch (count)")
    ax2 = ax.twinx()
    ax2.plot(np.asarray(plast.round_steps) / steps_per_epoch, plast.rates, color="tab:red", label="rate per round")
    ax2.set_ylabel("scheduled rate (% of synapses per round)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2)
    return save_figure(fig, path)


def _lifetimes(life: np.ndarray, ages: np.ndarray, steps_per_epoch: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    top = max(life.max(initial=0), ages.max(initial=0)) / steps_per_epoch
    bins = np.linspace(0, max(top, 1e-3), 50)
    ax.hist(life / steps_per_epoch, bins=bins, alpha=0.6, label=f"removed synapses (n={life.size})")
    ax.hist(ages / steps_per_epoch, bins=bins, alpha=0.6, label=f"alive at the end (n={ages.size})")
    ax.set(title="Synapse lifetimes", xlabel="lifetime (epochs)", ylabel="synapses (count)")
    ax.set_yscale("log")
    ax.legend()
    return save_figure(fig, path)


def dendritic_figures(
    out: Path,
    *,
    history: list[dict],
    start: dict,
    end: dict,
    plasticity: Any,
    layer: Any,
    target: Any = None,
    steps_per_epoch: int,
    n_show: int = 16,
    distances: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Write the run's figures under ``out``; return ``{name: path}`` for ``Result.artifacts``."""
    out.mkdir(parents=True, exist_ok=True)
    arts = {"curves": _curves(history, out / "curves.png")}
    if layer is None:
        return arts
    if n_show:
        arts["dendrite_weights"] = _dendrite_grid(
            start["dense"].numpy(), end["dense"].numpy(), n_show, out / "dendrite_weights.png"
        )
    arts["weight_histogram"] = _histograms(
        start["weight"].numpy(), end["weight"].numpy(), target, distances or {}, out / "weight_histogram.png"
    )
    arts["entropy"] = _entropy(start["entropy"].numpy(), end["entropy"].numpy(), layer.synapses, out / "entropy.png")
    if plasticity is not None and plasticity.rounds:
        arts["turnover"] = _turnover(plasticity, steps_per_epoch, len(history), out / "turnover.png")
        arts["lifetimes"] = _lifetimes(
            plasticity.lifetimes().numpy(),
            plasticity.ages(steps_per_epoch * len(history)).numpy(),
            steps_per_epoch,
            out / "lifetimes.png",
        )
    return arts
