"""Figures for the answers in the morning report: plasticity knobs, IMP splits.

Own figures are built on :class:`~matplotlib.figure.Figure` (no pyplot), as in
:mod:`search.report.plots`. The slice and contour plots come from ``optuna.visualization.matplotlib``,
which draws through pyplot: those figures are closed as soon as they are saved.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import optuna
from matplotlib.figure import Figure

__all__ = ["plot_contour", "plot_slice", "plot_split_bound", "plot_split_by_level", "plot_split_vs_acc"]

_DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    return path


def _save_optuna(axes, path: Path) -> Path:
    """Save and close the pyplot figure that optuna drew ``axes`` on (its own layout and title kept)."""
    import matplotlib.pyplot as plt

    fig = np.ravel(axes)[0].figure
    try:
        fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_slice(study: optuna.Study, params: Sequence[str], target_name: str, path: Path) -> Path:
    """Optuna's slice plot: the objective against each of ``params``, one panel each."""
    from optuna.visualization.matplotlib import plot_slice as slice_

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = slice_(study, params=list(params), target_name=target_name)
    return _save_optuna(axes, path)


def plot_contour(study: optuna.Study, params: Sequence[str], target_name: str, path: Path) -> Path:
    """Optuna's contour plot of the objective over two parameters."""
    from optuna.visualization.matplotlib import plot_contour as contour

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = contour(study, params=list(params), target_name=target_name)
    return _save_optuna(axes, path)


def plot_split_by_level(curves: Mapping[str, tuple[Sequence[int], Sequence[float], int]], path: Path) -> Path:
    """P(split by level): per configuration, the fraction of its seeds split at or before each level."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for label, (levels, fractions, n) in curves.items():
        style = {"color": "0.4", "ls": "--"} if label == "baseline" else {}
        ax.step(levels, fractions, where="post", marker="o", label=f"{label} ({n} seeds)", **style)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("IMP level (0 = dense)")
    ax.set_ylabel("fraction of seeds split by this level")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax.set_title("P(split by level) over seeds")
    return _save(fig, path)


def plot_split_bound(points: Mapping[str, Sequence[tuple[float, float]]], path: Path) -> Path:
    """Prunable parameters left at the first split against the bound P/k (a split needs at most P/k)."""
    fig = Figure(figsize=(6.0, 4.6))
    ax = fig.subplots()
    top = 1.0
    for label, pts in points.items():
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, "o", alpha=0.6, label=f"{label} ({len(pts)} split runs)")
            top = max(top, *x, *y)
    ax.plot([0, top * 1.05], [0, top * 1.05], "-", color="tab:red", lw=1, label="bound: params = P/k")
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("P/k (prunable parameters of the dense network / tasks)")
    ax.set_ylabel("prunable parameters left at the first split")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("First split against the theoretical bound P/k")
    return _save(fig, path)


def plot_split_vs_acc(groups: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path) -> Path:
    """Per accuracy metric, its values in runs that split against runs that never split (box plots)."""
    fig = Figure(figsize=(3.2 * max(1, len(groups)) + 1.0, 4.2))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(groups)), squeeze=False)[0])
    for ax, (metric, (split, never)) in zip(axes, groups.items()):
        data = [list(split) or [np.nan], list(never) or [np.nan]]
        ax.boxplot(data, tick_labels=[f"split\n(n={len(split)})", f"never split\n(n={len(never)})"])
        for i, values in enumerate(data):
            jitter = np.linspace(-0.08, 0.08, len(values))
            ax.plot(np.full(len(values), i + 1) + jitter, values, ".", alpha=0.5)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy of search runs that split against runs that never split")
    return _save(fig, path)
