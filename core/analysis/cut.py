"""A graded distance to a split: the minimum cut between the tasks of a masked MLP's weight graph.

The graph is :mod:`core.analysis.graph`'s: neurons are nodes, a live weight is an undirected
edge. The *terminals* of task j are its inputs and its outputs. A *cut* is a set of weights whose
removal leaves no path between terminals of two different tasks; two sizes are measured, each
minimised on its own:

- ``cut_weights``: the fewest weights (every weight counts 1);
- ``cut_mass``: the least total |w| of the weights removed.

Both are 0 exactly when no connected component holds terminals of two tasks, i.e. when
:class:`~core.analysis.graph.GraphReport`'s ``mixed`` is false. ``split`` asks that and more (every
task's outputs still reachable from its own inputs), so split implies cut 0, not the reverse.

Two tasks: one s-t minimum cut (max-flow), exact: a super-source joined to task 0's terminals and
a super-sink joined to task 1's, both with capacity above the total. k >= 3 tasks: the exact
minimum multiway cut is NP-hard; each task is cut from all the others (its *isolating cut*, one
max-flow each) and the value is the sum of the k-1 smallest isolating cuts: the size of a real
multiway cut (their union), so at least the optimum and at most (2 - 2/k) times it (Dahlhaus et
al., SIAM J. Comput. 1994). It is an upper bound, and 0 exactly when the optimum is.

Max-flow is scipy's (``scipy.sparse.csgraph.maximum_flow``, Dinic), which needs integer capacities.
For the mass, |w| is scaled by S = 2**29 / sum|w| and rounded, each live weight at least 1 (a live
weight never costs 0), so ``cut_mass`` is within (weights in the cut) / S of the exact value: the
resolution is sum|w| / 2**29 per weight cut (about 2e-9 of the total mass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

__all__ = ["TaskCut", "task_cut", "cut_summary", "MASS_SCALE_TOTAL"]

MASS_SCALE_TOTAL = 2**29  # the integer capacities of all weights sum to at most this (+1 per weight)


@dataclass(frozen=True)
class TaskCut:
    """The minimum cut between tasks: ``weights`` (a count) and ``mass`` (sum of |w|).

    ``exact``: True for k <= 2; for k >= 3 both are the (2 - 2/k)-approximate upper bound.
    """

    weights: int
    mass: float
    exact: bool


def _edges(masks: Sequence[np.ndarray], weights: Sequence[np.ndarray] | None) -> tuple[np.ndarray, ...]:
    """(u, v, |w|) of every live weight, nodes numbered layer by layer, inputs first."""
    sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
    off = np.cumsum([0] + sizes)
    us, vs, ws = [], [], []
    for i, m in enumerate(masks):
        outs, ins = np.nonzero(m)
        us.append(off[i] + ins)
        vs.append(off[i + 1] + outs)
        ws.append(np.abs(np.asarray(weights[i], dtype=np.float64)[outs, ins]) if weights is not None else None)
    u, v = np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)
    w = np.concatenate(ws) if weights is not None else np.ones(len(u))
    return u, v, w, off


def _capacities(w: np.ndarray, unit: bool) -> tuple[np.ndarray, float]:
    """Integer capacities and the scale S (capacity / S ~ |w|); every live weight costs at least 1."""
    if unit:
        return np.ones(len(w), dtype=np.int64), 1.0
    total = float(w.sum())
    scale = MASS_SCALE_TOTAL / total if total > 0 else 1.0
    return np.maximum(1, np.rint(w * scale)).astype(np.int64), scale


def _flow(n: int, u: np.ndarray, v: np.ndarray, cap: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    """Max-flow between node sets ``a`` and ``b`` of the undirected graph (u, v, cap) on ``n`` nodes."""
    if len(u) == 0:
        return 0
    src, snk = n, n + 1
    inf = int(cap.sum()) + 1
    rows = np.concatenate([u, v, np.full(len(a), src), b])
    cols = np.concatenate([v, u, a, np.full(len(b), snk)])
    data = np.concatenate([cap, cap, np.full(len(a) + len(b), inf)]).astype(np.int32)
    graph = csr_array((data, (rows, cols)), shape=(n + 2, n + 2))
    return int(maximum_flow(graph, src, snk).flow_value)


def task_cut(
    masks: Sequence[np.ndarray],
    weights: Sequence[np.ndarray] | None,
    input_task: np.ndarray,
    output_task: np.ndarray,
) -> TaskCut:
    """The minimum cut between the tasks of a masked MLP (see the module's docstring).

    ``masks[i]``: layer i's [out, in] weight mask (nonzero = live); ``weights[i]`` its values
    (None: the mass is not asked for and reads 0.0); ``input_task`` / ``output_task``: the task of
    each input / output. One task, or none with a terminal: 0.
    """
    masks = [np.asarray(m) != 0 for m in masks]
    u, v, w, off = _edges(masks, weights)
    n = int(off[-1])
    task = np.full(n, -1)
    task[: off[1]] = input_task
    task[off[-2] :] = output_task
    k = int(max(input_task.max(), output_task.max())) + 1
    if k < 2 or len(u) == 0:
        return TaskCut(weights=0, mass=0.0, exact=k <= 2)
    out: list[float] = []
    for unit in (True, False) if weights is not None else (True,):
        cap, scale = _capacities(w, unit)
        # k = 2: task 0 against task 1, exact. k >= 3: each task against all others.
        isolating = [
            _flow(n, u, v, cap, np.flatnonzero(task == j), np.flatnonzero((task >= 0) & (task != j)))
            for j in range(k if k > 2 else 1)
        ]
        out.append(sum(sorted(isolating)[: max(1, k - 1)]) / scale)
    return TaskCut(weights=int(round(out[0])), mass=float(out[1]) if len(out) > 1 else 0.0, exact=k <= 2)


def cut_summary(history: Sequence[dict[str, float]], k: int) -> dict[str, float]:
    """A run's cut metrics from its level history (each level's ``cut_weights``, ``cut_mass``).

    ``cut_weights_last`` / ``cut_mass_last``: the cut at the last level run. ``cut_level_zero``: the
    first level whose cut is 0 (no component holds two tasks), -1.0 when no level run reaches it
    (censored like ``split_level``: "not cut by level L" for every L, never averaged as a level);
    -1.0 too for k = 1, where there are no two tasks to separate (as ``split`` is 0 there).
    ``cut_weights_dense``: the cut of the dense network (level 0), the scale of the others.
    """
    nan = float("nan")  # a level resumed from a checkpoint written before the cut was measured
    zero = next((h["level"] for h in history if h.get("cut_weights") == 0), None) if k > 1 else None
    return {
        "cut_weights_last": history[-1].get("cut_weights", nan),
        "cut_mass_last": history[-1].get("cut_mass", nan),
        "cut_weights_dense": history[0].get("cut_weights", nan),
        "cut_level_zero": -1.0 if zero is None else float(zero),
    }
