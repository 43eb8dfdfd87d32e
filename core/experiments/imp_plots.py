"""Pictures of an IMP run (matplotlib, Agg): written as PNG files and returned as artifacts.

* ``imp_accuracy_params``: validation accuracy (overall and worst task), test accuracy (overall)
  and prunable parameters per level;
* ``imp_zombies_comatose``: zombie and comatose neurons per hidden layer per level;
* ``imp_graph_split`` / ``imp_graph_last``: the network drawn layer by layer, every live weight
  and every neuron coloured by the task of its connected component (grey: mixed or none);
* ``imp_trajectories``: trained value of each weight across levels while it survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator

from core.analysis.graph import components
from core.data.tasks import TaskLayout
from core.figures import plt, save_figure

__all__ = ["imp_figures", "plot_accuracy_params", "plot_zombies", "plot_graph", "plot_trajectories"]

_MAX_DRAWN_EDGES = 20_000  # LeNet-sized graphs are not worth drawing edge by edge
_MIXED = "0.35"
_NONE = "0.8"


def plot_accuracy_params(history: Sequence[Mapping[str, float]], split_level: int, path: Path) -> Path:
    """Accuracy (left axis) and prunable parameter count (right axis, log) against IMP level."""
    lv = [h["level"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(lv, [100 * h["val_acc"] for h in history], "o-", label="validation accuracy, all tasks")
    ax.plot(lv, [100 * h["val_min_task_acc"] for h in history], "s--", label="validation accuracy, worst task")
    ax.plot(lv, [100 * h["test_acc"] for h in history], "o-", alpha=0.4, label="test accuracy, all tasks")
    ax.set_xlabel("IMP level (0 = dense)")
    ax.set_ylabel("accuracy (%)")
    ax2 = ax.twinx()
    ax2.plot(lv, [h["prunable"] for h in history], "^:", color="tab:green", label="prunable parameters left")
    ax2.set_yscale("log")
    ax2.set_ylabel("prunable parameters (count, log scale)")
    if split_level >= 0:
        ax.axvline(split_level, color="tab:red", alpha=0.6, label=f"first split (level {split_level})")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="best", fontsize=8)
    ax.set_title("IMP: accuracy and size per level")
    return save_figure(fig, path, dpi=110)


def plot_zombies(history: Sequence[Mapping[str, float]], n_hidden: int, path: Path) -> Path:
    """Zombie (solid) and comatose (dashed) neuron counts per hidden layer against level."""
    lv = [h["level"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for i in range(1, n_hidden + 1):
        c = f"C{i - 1}"
        ax.plot(lv, [h[f"zombies_l{i}"] for h in history], "o-", color=c, label=f"zombies, hidden layer {i}")
        ax.plot(lv, [h[f"comatose_l{i}"] for h in history], "s--", color=c, label=f"comatose, hidden layer {i}")
    ax.set_xlabel("IMP level (0 = dense)")
    ax.set_ylabel("neurons (count)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Zombie and comatose neurons per level")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_graph(masks: Sequence[np.ndarray], layout: TaskLayout, title: str, path: Path) -> Path | None:
    """The layered neuron graph with every component coloured by its task; None if too large."""
    masks = [np.asarray(m) != 0 for m in masks]
    if sum(int(m.sum()) for m in masks) > _MAX_DRAWN_EDGES:
        return None
    sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
    pos = {(l, n): (l, (n + 0.5) / s) for l, s in enumerate(sizes) for n in range(s)}
    colour: dict[tuple[int, int], str] = {}
    it, ot, last = layout.input_task(), layout.output_task(), len(masks)
    for nodes in components(masks):
        tasks = {int(it[n]) for l, n in nodes if l == 0} | {int(ot[n]) for l, n in nodes if l == last}
        c = f"C{tasks.pop()}" if len(tasks) == 1 else (_MIXED if tasks else _NONE)
        colour.update({node: c for node in nodes})
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    segs, cols = [], []
    for l, m in enumerate(masks):
        for o, i in zip(*np.nonzero(m)):
            segs.append([pos[(l, i)], pos[(l + 1, o)]])
            cols.append(colour[(l, i)])
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=0.8, alpha=0.7, zorder=1))
    nodes = list(pos)
    ax.scatter(
        [pos[n][0] for n in nodes],
        [pos[n][1] for n in nodes],
        s=18,
        c=[colour[n] for n in nodes],
        edgecolors="k",
        linewidths=0.3,
        zorder=2,
    )
    for j in range(layout.k):
        ax.scatter([], [], color=f"C{j}", label=f"component of task {j}")
    ax.scatter([], [], color=_MIXED, label="component of several tasks")
    ax.scatter([], [], color=_NONE, label="no input/output")
    ax.set_xticks(range(len(sizes)), ["inputs"] + [f"hidden {l}" for l in range(1, last)] + ["outputs"])
    ax.set_xlabel("layer")
    ax.set_ylabel("neuron position in layer (fraction of width)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    return save_figure(fig, path, dpi=110)


def plot_trajectories(traj: np.ndarray, path: Path, max_lines: int = 300) -> Path:
    """Trained value of each weight per level while it is alive; last-level survivors in colour."""
    rng = np.random.default_rng(0)
    alive = ~np.isnan(traj)
    idx = np.nonzero(alive.any(0))[0]
    if len(idx) > max_lines:
        idx = np.sort(rng.choice(idx, max_lines, replace=False))
    lv = np.arange(traj.shape[0])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for j in idx:
        final = alive[-1, j]
        ax.plot(
            lv, traj[:, j], color="tab:blue" if final else "0.75", lw=1.0 if final else 0.5, zorder=2 if final else 1
        )
    ax.plot([], [], color="tab:blue", label="survives to the last level")
    ax.plot([], [], color="0.75", label="pruned at some level")
    ax.set_xlabel("IMP level (0 = dense)")
    ax.set_ylabel("trained weight value")
    ax.set_title(f"Weight trajectories ({len(idx)} of {traj.shape[1]} weights)")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def imp_figures(history, levels, layout: TaskLayout, summary, out_dir: Path, traj=None) -> dict[str, Path]:
    """All pictures of one run, as ``name → path`` (graphs too large to draw are skipped)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    split = int(summary["split_level"])
    n_hidden = len(levels[0].masks) // 2 - 1
    arts = {
        "imp_accuracy_params": plot_accuracy_params(history, split, out_dir / "imp_accuracy_params.png"),
        "imp_zombies_comatose": plot_zombies(history, n_hidden, out_dir / "imp_zombies_comatose.png"),
    }
    weights = lambda lv: [lv.masks[n].cpu().numpy() for n in lv.masks if n.endswith("weight")]  # noqa: E731
    shown = [("imp_graph_split", split, "at the first split")] if split >= 0 else []
    shown.append(("imp_graph_last", len(levels) - 1, "at the last level"))
    for name, lv, what in shown:
        h = history[lv]
        title = (
            f"Network {what} (level {lv})\n{int(h['prunable'])} prunable parameters, "
            f"worst-task accuracy {100 * h['val_min_task_acc']:.1f} % val, "
            f"{100 * h['test_min_task_acc']:.1f} % test"
        )
        p = plot_graph(weights(levels[lv]), layout, title, out_dir / f"{name}.png")
        if p is not None:
            arts[name] = p
    if traj is not None:
        arts["imp_trajectories"] = plot_trajectories(traj, out_dir / "imp_trajectories.png")
    return arts
