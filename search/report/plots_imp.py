"""Figures for the IMP report's cut and neuron sections (built on :class:`~matplotlib.figure.Figure`,
no pyplot, as in :mod:`search.report.plots_answers`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_cut_by_level", "plot_negative_biases", "plot_survival"]

_DPI = 110

# Per configuration and per measure: (levels, mean, std, n seeds per level)
CutCurve = tuple[Sequence[int], Sequence[float], Sequence[float], Sequence[int]]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    return path


def plot_cut_by_level(curves: Mapping[str, Mapping[str, CutCurve]], path: Path) -> Path:
    """The minimum cut between the tasks by level, one panel per measure: mean over seeds, ± 1 std band."""
    measures = list(next(iter(curves.values())))
    fig = Figure(figsize=(5.0 * len(measures) + 0.5, 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(measures), squeeze=False)[0])
    for ax, measure in zip(axes, measures):
        for label, by in curves.items():
            levels, mean, std, n = (np.asarray(x, dtype=float) for x in by[measure])
            style = {"color": "0.4", "ls": "--"} if label == "baseline" else {}
            seeds = f"{int(n.max())} seed" + ("s" if n.max() > 1 else "")
            line = ax.plot(levels, mean, marker="o", label=f"{label} ({seeds})", **style)[0]
            ax.fill_between(levels, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
        ax.axhline(0, color="tab:red", lw=0.8)
        ax.set_xlabel("IMP level (0 = dense)")
        ax.set_ylabel(measure)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Minimum cut between the tasks by level (0 = no component holds two tasks)")
    return _save(fig, path)


def plot_survival(curves: Mapping[str, tuple[Sequence[float], int]], path: Path) -> Path:
    """Kaplan-Meier survival: the fraction of neurons still in their state j levels after its onset."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    styles = [{"marker": "o"}, {"marker": "s", "ls": "-."}, {"marker": "^", "ls": "--", "color": "0.4"}]
    for (label, (alive, n)), style in zip(curves.items(), styles * len(curves)):
        ax.step(range(len(alive)), alive, where="post", label=f"{label} (n={n})", **style)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("levels since the neuron became zombie / comatose")
    ax.set_ylabel("fraction still in that state (Kaplan-Meier)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("How long zombies and comatose neurons live")
    return _save(fig, path)


def plot_negative_biases(rows: Sequence[tuple[int, int, int, float, float]], path: Path) -> Path:
    """The fraction of live hidden biases that are negative, by level (pooled, and the mean over runs)."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    levels = [r[0] for r in rows]
    ax.plot(levels, [r[3] for r in rows], marker="o", label="pooled over runs")
    ax.plot(levels, [r[4] for r in rows], marker="s", ls="--", label="mean of the runs' fractions")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("IMP level (0 = dense)")
    ax.set_ylabel("fraction of live hidden biases < 0")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Negative hidden biases by level")
    return _save(fig, path)
