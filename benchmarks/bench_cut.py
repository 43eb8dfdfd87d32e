"""Time of the per-level minimum cut between tasks (core.analysis.cut.task_cut: count and mass).

    python benchmarks/bench_cut.py [--repeats 3] [--networkx]

Networks, each at the weight fractions an IMP run passes through:

  moons 2x (16, 16)       studies/quickstart.yaml's network: 2 x 2 inputs, (16, 16), 2 x 2 outputs
  LeNet 2x MNIST          studies/experiments/lenet_imp.yaml's widths (300, 100) on two concatenated
                          MNIST tasks: 2 x 784 inputs, 2 x 10 outputs (lenet_imp.yaml itself has k = 1,
                          where the cut is 0 without a max-flow)

Masks keep a random fraction of each layer (Frankle & Carbin's levels 0, 3, 7, 12, 15 of 20 % /
10 % per level); weights are PyTorch's default Linear init. Each row is the best of ``--repeats``
(seconds per level: both cuts, count and |w| mass, as ``level_metrics`` computes them).
``--networkx`` adds networkx's ``minimum_cut`` (float capacities, the mass cut only) for comparison.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.analysis.cut import task_cut  # noqa: E402

NETS = {"moons 2x (16, 16)": ([4, 16, 16, 4], 2), "LeNet 2x MNIST": ([1568, 300, 100, 20], 784)}
LEVELS = (0, 3, 7, 12, 15)


def _net(sizes: list[int], level: int, seed: int = 0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    masks, weights = [], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        keep = (0.9 if i == len(sizes) - 2 else 0.8) ** level
        m = rng.random((b, a)) < keep
        masks.append(m)
        weights.append(torch.nn.Linear(a, b).weight.detach().numpy() * m)
    return masks, weights


def _networkx_cut(masks, weights, it, ot) -> float:
    import networkx as nx

    off = np.cumsum([0, masks[0].shape[1], *(m.shape[0] for m in masks)])
    g = nx.DiGraph()
    for i, (m, w) in enumerate(zip(masks, weights)):
        for o, n in zip(*np.nonzero(m)):
            c = abs(float(w[o, n]))
            g.add_edge(off[i] + n, off[i + 1] + o, capacity=c)
            g.add_edge(off[i + 1] + o, off[i] + n, capacity=c)
    for j, ends in ((0, "s"), (1, "t")):
        for node in [*np.flatnonzero(it == j), *(off[-2] + np.flatnonzero(ot == j))]:
            g.add_edge(ends, node) if ends == "s" else g.add_edge(node, ends)  # no capacity: infinite
    return nx.minimum_cut_value(g, "s", "t")


def _timed(fn, *args, repeats: int = 1):
    """(fn(*args), the best of ``repeats`` times in seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return value, min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--networkx", action="store_true", help="also time networkx's minimum_cut (slow)")
    args = parser.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, 1 process")
    head = "| network | level | weights | cut_weights | cut_mass | s per level (scipy) |"
    print(head + (" s (networkx, mass only) |" if args.networkx else ""))
    print("|---" * (6 + args.networkx) + "|")
    for name, (sizes, per_task_in) in NETS.items():
        it = np.repeat([0, 1], per_task_in)
        ot = np.repeat([0, 1], sizes[-1] // 2)
        for level in LEVELS:
            masks, weights = _net(sizes, level)
            cut, t = _timed(task_cut, masks, weights, it, ot, repeats=args.repeats)
            n = sum(int(m.sum()) for m in masks)
            row = f"| {name} | {level} | {n:,} | {cut.weights} | {cut.mass:.4f} | {t:.4f} |"
            if args.networkx:
                value, t_nx = _timed(_networkx_cut, masks, weights, it, ot)
                assert abs(value - cut.mass) <= 1e-6 * max(1.0, value), (value, cut.mass)  # the scaling's error
                row += f" {t_nx:.3f} |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
