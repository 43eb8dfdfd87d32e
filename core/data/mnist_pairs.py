"""MNIST as concatenable tasks: the 10-class problem, or digit-pair (a vs b) problems.

Reads the IDX files through :mod:`core.data.mnist` (the dendritic engineer's reader). The
validation set is ``mnist_val`` training images held out by a seeded permutation (Frankle
& Carbin hold out 5,000); the test set is the official 10,000. With k tasks, row i holds
one image per task, each task drawing from its own seeded permutation of its own pool, so
the k inputs of a row are unrelated images; every split is cut to its smallest pool.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.mnist import load_mnist
from core.data.tasks import Split, SplitData, TaskLayout

__all__ = ["mnist_tasks", "task_digits"]


def task_digits(task: str, digits: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    """The digits each of the k tasks classifies (all ten, or its pair; one pair repeats for all)."""
    if task == "mnist":
        return [tuple(range(10))] * k
    pairs = [tuple(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    return pairs * k if len(pairs) == 1 else pairs


def _split(x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, per_task: list[tuple[int, ...]], seed: int, tag: int) -> Split:
    labels = y.numpy()
    chosen = []
    for j, digs in enumerate(per_task):
        pool = idx[np.isin(labels[idx], digs)]
        chosen.append(pool[np.random.default_rng([seed, j, tag]).permutation(len(pool))])
    n = min(len(c) for c in chosen)
    xs = torch.cat([x[torch.from_numpy(c[:n])] for c in chosen], 1)
    ys = []
    for digs, c in zip(per_task, chosen):
        # Labels become positions in the task's digit list: pair (3, 8) → classes 0 and 1.
        lut = torch.full((10,), -1, dtype=torch.int64)
        lut[list(digs)] = torch.arange(len(digs))
        ys.append(lut[y[torch.from_numpy(c[:n])]])
    return Split(xs, torch.stack(ys, 1))


def mnist_tasks(d, directory: str | None, seed: int) -> SplitData:
    """Train / val / test for ``d.task`` in ("mnist", "mnist_pairs") with ``d.k`` tasks side by side.

    ``seed`` is the data seed (``data.seed``): it alone picks the validation images and every
    task's row order, so runs that differ only in their init seed see the same rows.
    """
    m = load_mnist(directory, device="cpu")
    per_task = task_digits(d.task, d.digits, d.k)
    perm = np.random.default_rng([seed, 7]).permutation(len(m.train_y))
    val_idx, train_idx = np.sort(perm[: d.mnist_val]), np.sort(perm[d.mnist_val :])
    test_idx = np.arange(len(m.test_y))
    layout = TaskLayout(tuple(m.train_x.shape[1] for _ in per_task), tuple(len(p) for p in per_task))
    return SplitData(
        _split(m.train_x, m.train_y, train_idx, per_task, seed, 0),
        _split(m.train_x, m.train_y, val_idx, per_task, seed, 1),
        _split(m.test_x, m.test_y, test_idx, per_task, seed, 2),
        layout,
    )
