"""Training one IMP level: Adam/AdamW/SGD (``core.optim``) on the summed per-task loss, early stopping on val loss.

The loop fits on a screen. It restores the weights of the best validation loss at the
end (the user's "train to the best validation loss"), and calls ``on_step`` after every
optimizer step so IMP can capture the weights at the rewinding iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from core.data.tasks import Split, SplitData, TaskLayout
from core.errors import Diverged
from core.optim import make_optimizer

if TYPE_CHECKING:
    from core.lottery.config import ImpTrainConfig

__all__ = ["TrainStats", "Evaluation", "task_loss", "evaluate", "train_level"]


@dataclass(frozen=True)
class Evaluation:
    """Loss (sum over tasks), overall accuracy (mean over tasks) and per-task accuracies."""

    loss: float
    acc: float
    task_acc: tuple[float, ...]


@dataclass(frozen=True)
class TrainStats:
    """What one level's training did: steps run, best epoch, best validation loss."""

    steps: int
    epochs: int
    best_epoch: int
    best_val_loss: float


def task_loss(logits: torch.Tensor, y: torch.Tensor, layout: TaskLayout) -> torch.Tensor:
    """Sum over tasks of each task's cross-entropy on its own block of logits."""
    return sum(F.cross_entropy(logits[:, s], y[:, j]) for j, s in enumerate(layout.out_slices()))  # type: ignore[return-value]


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, layout: TaskLayout, batch: int = 10_000) -> Evaluation:
    """Full pass over ``split`` in large batches (no gradient)."""
    model.eval()
    loss, correct, n = 0.0, torch.zeros(layout.k, dtype=torch.float64), len(split.x)
    for b in range(0, n, batch):
        x, y = split.x[b : b + batch], split.y[b : b + batch]
        logits = model(x)
        loss += float(task_loss(logits, y, layout)) * len(x)
        for j, s in enumerate(layout.out_slices()):
            correct[j] += float((logits[:, s].argmax(1) == y[:, j]).sum())
    task_acc = tuple(float(c) / n for c in correct)
    return Evaluation(loss / n, sum(task_acc) / layout.k, task_acc)


def train_level(
    model: torch.nn.Module,
    data: SplitData,
    cfg: ImpTrainConfig,
    seed: int,
    on_step: Callable[[int], None] | None = None,
) -> TrainStats:
    """Train until validation loss has not improved for ``cfg.patience`` epochs (or the caps)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(cfg.optimizer, params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)
    gen = torch.Generator().manual_seed(seed)
    x, y, n = data.train.x, data.train.y, len(data.train.x)
    best, best_state, best_epoch, bad, step, epoch = math.inf, None, 0, 0, 0, 0
    while epoch < cfg.max_epochs and not (cfg.max_steps and step >= cfg.max_steps):
        epoch += 1
        model.train()
        order = torch.randperm(n, generator=gen).to(x.device)
        for b in range(0, n, cfg.batch_size):
            idx = order[b : b + cfg.batch_size]
            loss = task_loss(model(x[idx]), y[idx], data.layout)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if on_step is not None:
                on_step(step)
            if cfg.max_steps and step >= cfg.max_steps:
                break
        val = evaluate(model, data.val, data.layout).loss
        if not math.isfinite(val):
            raise Diverged(f"validation loss is {val} at epoch {epoch}")
        if val < best - cfg.min_delta:
            best, best_epoch, bad = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainStats(step, epoch, best_epoch, best)
