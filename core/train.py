"""One readable training loop for classifiers whose data lives on the device as tensors.

Batches are index slices of a per-epoch permutation. Everything experiment-specific hooks
in through small callables: ``on_step(step, batch)`` after every optimizer step
(structural plasticity, running averages) and ``on_epoch(epoch)`` before the epoch's
metrics are reported (extra metrics), and ``lr_at(step)``, a learning-rate schedule. Training time is measured without evaluation.
When the data holds a validation set (``val_x``/``val_y`` not ``None``), every epoch also
reports ``val_loss``/``val_acc``: what a search should choose and prune on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.contract import Reporter
from core.errors import Diverged

__all__ = ["evaluate", "train"]


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction in [0, 1]) over the whole of ``x``.

    Chunks of ~1k examples: measured 5x faster on CPU than 10k-example chunks, whose
    intermediate tensors fall out of cache.
    """
    was = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, x.shape[0], chunk):
        out = model(x[i : i + chunk])
        loss += F.cross_entropy(out, y[i : i + chunk], reduction="sum")
        correct += (out.argmax(1) == y[i : i + chunk]).sum()
    model.train(was)
    n = x.shape[0]
    return float(loss) / n, float(correct) / n


def train(
    model: nn.Module,
    data: Any,
    *,
    epochs: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    reporter: Reporter,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int], Mapping[str, float]] | None = None,
    lr_at: Callable[[int], float] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` on ``data.train_x/train_y``; report per-epoch train/(val)/test loss and accuracy.

    ``val_loss``/``val_acc`` come with every epoch when ``data.val_x`` exists and is not ``None``.

    ``lr_at(step)``, when given, is the learning rate of every parameter group for the step
    after ``step`` steps (a schedule, :func:`core.optim.lr_at`).

    Returns the per-epoch metric dicts. Raises :class:`Diverged` on a non-finite loss.
    """
    x, y = data.train_x, data.train_y
    val_x, val_y = getattr(data, "val_x", None), getattr(data, "val_y", None)
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    order_gen = torch.Generator().manual_seed(seed)  # CPU: the permutation is cheap, reproducible
    history: list[dict[str, float]] = []
    step, train_time = 0, 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=order_gen).to(x.device)
        for b in range(steps_per_epoch):
            i = perm[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(model(x[i]), y[i])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
            optimizer.step()
            step += 1
            if on_step is not None:
                on_step(step, b)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
        train_time += time.perf_counter() - t0
        train_loss, train_acc = evaluate(model, x, y)
        if not math.isfinite(train_loss):
            raise Diverged(f"train loss is {train_loss} after epoch {epoch}")
        metrics = {"train_loss": train_loss, "train_acc": train_acc}
        if val_x is not None:
            metrics["val_loss"], metrics["val_acc"] = evaluate(model, val_x, val_y)
        metrics["test_loss"], metrics["test_acc"] = evaluate(model, data.test_x, data.test_y)
        metrics.update(train_time_s=train_time, steps=float(step))
        if on_epoch is not None:
            metrics.update(on_epoch(epoch))
        reporter.report(epoch, metrics)
        history.append(metrics)
    return history
