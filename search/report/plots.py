"""Study-level pictures for the morning report (PNG, matplotlib without pyplot).

Each function draws one figure from finished trials and writes it to ``path``:
optimisation history, parallel coordinates, parameter importances, learning curves
(intermediate values) and the Pareto front. Figures are built on :class:`~matplotlib.figure.Figure`
directly, not pyplot, so that a launcher or a dashboard process keeps its own backend and no
global figure state leaks between reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import cm, colormaps
from matplotlib.figure import Figure
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from search.store import read_record

__all__ = ["plot_history", "plot_parallel", "plot_importances", "plot_curves", "plot_pareto", "curve_of"]

_DPI = 110
_STATE_COLOURS = {TrialState.COMPLETE: "tab:blue", TrialState.PRUNED: "tab:orange", TrialState.FAIL: "tab:red"}


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    return path


def _axis_label(metric: str, direction: str) -> str:
    return f"{metric} ({direction})"


def plot_history(
    trials: Sequence[FrozenTrial], metrics: Sequence[str], directions: Sequence[str], front: Sequence[int], path: Path
) -> Path:
    """Each objective against trial number, with the best value so far (single objective) or
    the Pareto-optimal trials marked (several objectives)."""
    fig = Figure(figsize=(7, 2.2 + 2.3 * len(metrics)))
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    numbers = [t.number for t in trials]
    for i, (ax, metric, direction) in enumerate(zip(axes, metrics, directions)):
        values = [t.values[i] for t in trials]
        ax.plot(numbers, values, "o", color="tab:blue", alpha=0.7, label="completed trial")
        if len(metrics) == 1:
            best = np.minimum.accumulate(values) if direction == "minimize" else np.maximum.accumulate(values)
            ax.step(numbers, best, where="post", color="tab:red", label="best so far")
        else:
            on_front = [(t.number, t.values[i]) for t in trials if t.number in front]
            ax.plot(*zip(*on_front), "o", mfc="none", mec="tab:red", ms=10, mew=1.5, label="on the Pareto front")
        ax.set_ylabel(_axis_label(metric, direction))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)  # the same series in every panel: one legend is enough
    axes[-1].set_xlabel("trial number")
    axes[0].set_title(f"Optimisation history ({len(trials)} completed trials)")
    return _save(fig, path)


def _positions(trials: Sequence[FrozenTrial], name: str) -> tuple[list[float], str, str]:
    """Where each trial sits on a parameter's axis (0 = low end, 1 = high end) and the end labels.
    The range is the union over trials: a resumed study may have widened it or added choices."""
    dists = [t.distributions[name] for t in trials]
    values = [t.params[name] for t in trials]
    if isinstance(dists[0], CategoricalDistribution):
        choices = list(dict.fromkeys(c for d in dists for c in d.choices))
        span = max(1, len(choices) - 1)
        return [choices.index(v) / span for v in values], str(choices[0]), str(choices[-1])
    lo, hi = min(d.low for d in dists), max(d.high for d in dists)
    log = getattr(dists[0], "log", False) and lo > 0
    scale = math.log if log else float
    width = (scale(hi) - scale(lo)) or 1.0
    high = f"{hi:.3g}" + (" (log)" if log else "")
    return [(scale(v) - scale(lo)) / width for v in values], f"{lo:.3g}", high


def plot_parallel(
    trials: Sequence[FrozenTrial], params: Sequence[str], metrics: Sequence[str], directions: Sequence[str], path: Path
) -> Path:
    """One polyline per completed trial across the searched parameters and the objectives,
    coloured by the first objective. Parameter axes span their search range."""
    columns, lows, highs = [], [], []
    for name in params:
        pos, lo, hi = _positions(trials, name)
        columns.append(pos), lows.append(lo), highs.append(hi)
    for i in range(len(metrics)):
        values = np.array([t.values[i] for t in trials])
        width = (values.max() - values.min()) or 1.0
        columns.append(list((values - values.min()) / width))
        lows.append(f"{values.min():.4g}"), highs.append(f"{values.max():.4g}")
    data = np.array(columns).T  # trials × axes
    colour_by = np.array([t.values[0] for t in trials])
    fig = Figure(figsize=(max(6.5, 1.6 * data.shape[1] + 1.5), 4.6))
    ax = fig.subplots()
    norm = (colour_by - colour_by.min()) / ((colour_by.max() - colour_by.min()) or 1.0)
    # Darker is better whichever the direction: dark lines stand out on white, and are drawn last.
    cmap = colormaps["viridis" if directions[0] == "minimize" else "viridis_r"]
    order = np.argsort(norm if directions[0] == "minimize" else -norm)[::-1]  # best trials drawn last, on top
    xs = np.arange(data.shape[1])
    for row in order:
        ax.plot(xs, data[row], color=cmap(norm[row]), alpha=0.75, lw=1.2)
    for x, lo, hi in zip(xs, lows, highs):
        ax.axvline(x, color="0.3", lw=0.8)
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1}
        ax.text(x, -0.06, lo, ha="center", va="top", fontsize=7, bbox=box)
        ax.text(x, 1.06, hi, ha="center", va="bottom", fontsize=7, bbox=box)
    ax.set_xticks(xs, [*params, *(f"{m}\n(objective)" for m in metrics)], fontsize=8)
    ax.set_ylim(-0.2, 1.2)
    ax.set_yticks([0, 1], ["low end", "high end"])
    ax.set_xlabel("searched parameter / objective (end values printed at each axis)")
    ax.set_ylabel("position on each axis' range")
    mappable = cm.ScalarMappable(cmap=cmap)
    mappable.set_clim(colour_by.min(), colour_by.max())
    fig.colorbar(mappable, ax=ax, label=_axis_label(metrics[0], directions[0]) + ", darker is better")
    ax.set_title(f"Parallel coordinates ({len(trials)} completed trials)")
    return _save(fig, path)


def plot_importances(importances: Mapping[str, Mapping[str, float]], evaluator: str, path: Path) -> Path:
    """Horizontal bars: each parameter's importance, one bar colour per objective."""
    metrics = list(importances)
    params = sorted({p for imp in importances.values() for p in imp}, key=lambda p: importances[metrics[0]].get(p, 0.0))
    fig = Figure(figsize=(6.5, 1.6 + 0.45 * len(params) * max(1, len(metrics) / 1.5)))
    ax = fig.subplots()
    height = 0.8 / len(metrics)
    ys = np.arange(len(params))
    for j, metric in enumerate(metrics):
        shares = [importances[metric].get(p, 0.0) for p in params]
        ax.barh(ys + (j - (len(metrics) - 1) / 2) * height, shares, height=height, label=f"for {metric}")
    ax.set_yticks(ys, params, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"importance (share of the total, {evaluator})")
    ax.set_ylabel("searched parameter")
    if len(metrics) > 1:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Parameter importances" + (f" for {metrics[0]}" if len(metrics) == 1 else ""))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def curve_of(trial: FrozenTrial, metric: str) -> list[tuple[float, float]]:
    """(step, value) of ``metric`` from the trial's stored history, else its intermediate values."""
    points = [(h["step"], h[metric]) for h in read_record(trial).history if metric in h and "step" in h]
    return points or sorted(trial.intermediate_values.items())


def plot_curves(trials: Sequence[FrozenTrial], metric: str, step_unit: str, path: Path) -> Path:
    """Learning curves: ``metric`` per step for every trial that reported it, coloured by state."""
    fig = Figure(figsize=(7, 4.3))
    ax = fig.subplots()
    alpha = 0.8 if len(trials) <= 30 else 0.35
    labelled: set[TrialState] = set()
    drawn = 0
    for t in trials:
        points = curve_of(t, metric)
        if not points:
            continue
        drawn += 1
        colour = _STATE_COLOURS.get(t.state, "0.5")
        label = None if t.state in labelled else f"{t.state.name.lower()} trial"
        labelled.add(t.state)
        ax.plot(
            *zip(*points), "-", marker="." if len(points) < 30 else None, color=colour, alpha=alpha, lw=1, label=label
        )
    ax.set_xlabel(step_unit)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)  # even with one state: it says which trials the lines are
    ax.grid(alpha=0.3)
    ax.set_title(f"Learning curves: {metric} per {step_unit} ({drawn} trials)")
    return _save(fig, path)


def plot_pareto(
    trials: Sequence[FrozenTrial], front: Sequence[int], metrics: Sequence[str], directions: Sequence[str], path: Path
) -> Path:
    """The first two objectives of every completed trial, the Pareto-optimal ones joined up."""
    fig = Figure(figsize=(6.5, 4.6))
    ax = fig.subplots()
    dominated = [t.values[:2] for t in trials if t.number not in front]
    best = sorted(t.values[:2] for t in trials if t.number in front)
    if dominated:
        ax.plot(*zip(*dominated), "o", color="0.6", alpha=0.7, label=f"dominated ({len(dominated)})")
    # With more objectives the projected front is not a curve in this plane: points only.
    style, label = ("o-", "Pareto front") if len(metrics) == 2 else ("o", f"on the {len(metrics)}-objective front")
    ax.plot(*zip(*best), style, color="tab:red", label=f"{label} ({len(best)})")
    ax.set_xlabel(_axis_label(metrics[0], directions[0]))
    ax.set_ylabel(_axis_label(metrics[1], directions[1]))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    extra = f" (first 2 of {len(metrics)} objectives)" if len(metrics) > 2 else ""
    ax.set_title(f"Pareto front: {metrics[0]} vs {metrics[1]}{extra}")
    return _save(fig, path)
