"""Small classification tasks and their side-by-side concatenation.

A *task* is a generator ``make(n, noise, rng) -> (x [n, d] float32, y [n] int64)``
registered in :data:`TASKS`. :func:`concat_tasks` puts k independent draws side by side:
row i holds one sample of every task, so the network sees ``sum(d_j)`` inputs and must
produce ``sum(c_j)`` logits, one block of ``c_j`` per task. Which input and output
columns belong to which task is kept in :class:`TaskLayout`, because the split analysis
needs exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core.registry import Registry

__all__ = ["TASKS", "TaskLayout", "Split", "SplitData", "concat_tasks", "split_rows", "make_moons", "make_circles", "make_blobs"]

TaskFn = Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]
TASKS: Registry[TaskFn] = Registry("task")


@TASKS.register("moons")
def make_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (sklearn's ``make_moons``), Gaussian noise of std ``noise``."""
    n_a = n // 2
    n_b = n - n_a
    t_a = np.linspace(0, np.pi, n_a)
    t_b = np.linspace(0, np.pi, n_b)
    a = np.stack([np.cos(t_a), np.sin(t_a)], 1)
    b = np.stack([1 - np.cos(t_b), 1 - np.sin(t_b) - 0.5], 1)
    return _finish(np.concatenate([a, b]), np.r_[np.zeros(n_a), np.ones(n_b)], noise, rng)


@TASKS.register("circles")
def make_circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside a circle (radius 0.5 and 1), Gaussian noise of std ``noise``."""
    n_a = n // 2
    n_b = n - n_a
    t_a = np.linspace(0, 2 * np.pi, n_a, endpoint=False)
    t_b = np.linspace(0, 2 * np.pi, n_b, endpoint=False)
    a = np.stack([np.cos(t_a), np.sin(t_a)], 1)
    b = 0.5 * np.stack([np.cos(t_b), np.sin(t_b)], 1)
    return _finish(np.concatenate([a, b]), np.r_[np.zeros(n_a), np.ones(n_b)], noise, rng)


@TASKS.register("blobs")
def make_blobs(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs at (-1, -1) and (1, 1); ``noise`` is their std (0 gives two points)."""
    n_a = n // 2
    x = np.concatenate([np.full((n_a, 2), -1.0), np.full((n - n_a, 2), 1.0)])
    return _finish(x, np.r_[np.zeros(n_a), np.ones(n - n_a)], noise, rng)


def _finish(x: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator):
    # Shuffle here so a prefix of the rows is a fair sample of both classes.
    x = x + rng.normal(0.0, noise, size=x.shape) if noise > 0 else x
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


@dataclass(frozen=True)
class TaskLayout:
    """Which input columns and which output logits belong to each of the k tasks."""

    in_sizes: tuple[int, ...]
    n_classes: tuple[int, ...]

    @property
    def k(self) -> int:
        return len(self.in_sizes)

    @property
    def n_in(self) -> int:
        return sum(self.in_sizes)

    @property
    def n_out(self) -> int:
        return sum(self.n_classes)

    def input_task(self) -> np.ndarray:
        """Task index of every input column."""
        return np.repeat(np.arange(self.k), self.in_sizes)

    def output_task(self) -> np.ndarray:
        """Task index of every output logit."""
        return np.repeat(np.arange(self.k), self.n_classes)

    def out_slices(self) -> list[slice]:
        ends = np.cumsum(self.n_classes)
        return [slice(int(e - c), int(e)) for e, c in zip(ends, self.n_classes)]


@dataclass(frozen=True)
class Split:
    """One split of a concatenated data set: ``x`` [n, n_in] float, ``y`` [n, k] int64."""

    x: torch.Tensor
    y: torch.Tensor

    def to(self, device: str) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class SplitData:
    """Train / validation / test splits sharing one :class:`TaskLayout`."""

    train: Split
    val: Split
    test: Split
    layout: TaskLayout

    def to(self, device: str) -> "SplitData":
        return SplitData(self.train.to(device), self.val.to(device), self.test.to(device), self.layout)


def concat_tasks(names: list[str], n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, TaskLayout]:
    """k tasks side by side: ``x`` [n, sum d_j], ``y`` [n, k]; task j draws from its own stream."""
    xs, ys = [], []
    for j, name in enumerate(names):
        make = TASKS.get(name, "data.task")
        # One independent stream per task, so task j's data do not depend on k.
        x, y = make(n, noise, np.random.default_rng([seed, j]))
        xs.append(x)
        ys.append(y)
    layout = TaskLayout(tuple(x.shape[1] for x in xs), tuple(2 for _ in xs))
    return np.concatenate(xs, 1), np.stack(ys, 1), layout


def split_rows(x: np.ndarray, y: np.ndarray, val_frac: float, test_frac: float, seed: int) -> tuple[Split, Split, Split]:
    """Seeded shuffle, then contiguous train / val / test blocks of the given fractions."""
    order = np.random.default_rng([seed, 1_000_003]).permutation(len(x))
    n_val = int(round(val_frac * len(x)))
    n_test = int(round(test_frac * len(x)))
    parts = np.split(order, [len(x) - n_val - n_test, len(x) - n_test])
    return tuple(Split(torch.from_numpy(x[p]), torch.from_numpy(y[p])) for p in parts)  # type: ignore[return-value]
