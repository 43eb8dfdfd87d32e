"""Per-level analysis of a masked MLP: parameter counts, accuracies, graph, split summary.

Counts follow DESIGN.md: *prunable* are the weights, and the biases when bias pruning is
on; the rest are non-prunable. Weights and biases are counted separately. ``n_params``
is the number of trainable parameters still unmasked (masked entries are exactly zero).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from core.analysis.graph import GraphReport, analyse_graph, zombie_comatose_flags
from core.data.tasks import SplitData
from core.lottery.train import evaluate
from core.nets.mlp import MaskedMLP

__all__ = ["param_counts", "level_metrics", "split_summary", "weight_masks_np", "trajectories"]


def weight_masks_np(model: MaskedMLP) -> list[np.ndarray]:
    return [m.detach().cpu().numpy() != 0 for m in model.weight_masks()]


def param_counts(model: MaskedMLP, prune_bias: bool) -> dict[str, float]:
    """Alive and total counts, prunable vs non-prunable, weights vs biases."""
    w_alive = sum(int(m.sum()) for m in model.weight_masks())
    w_total = sum(m.numel() for m in model.weight_masks())
    b_alive = sum(int(m.sum()) for m in model.bias_masks())
    b_total = sum(m.numel() for m in model.bias_masks())
    return {
        "n_params": float(w_alive + b_alive),
        "weights": float(w_alive),
        "biases": float(b_alive),
        "weights_total": float(w_total),
        "biases_total": float(b_total),
        "prunable": float(w_alive + (b_alive if prune_bias else 0)),
        "prunable_total": float(w_total + (b_total if prune_bias else 0)),
        "nonprunable": float(0 if prune_bias else b_alive),
        "weight_frac": w_alive / w_total,
    }


def level_metrics(model: MaskedMLP, data: SplitData, prune_bias: bool) -> tuple[dict[str, float], GraphReport]:
    """Counts, test/val accuracy (overall and per task), zombies/comatose and split of one level."""
    test = evaluate(model, data.test, data.layout)
    val = evaluate(model, data.val, data.layout)
    layout = data.layout
    wmasks = weight_masks_np(model)
    flags = zombie_comatose_flags(wmasks)  # one pass serves the graph's counts and the zombie biases
    graph = analyse_graph(wmasks, layout.input_task(), layout.output_task(), flags=flags)
    m = param_counts(model, prune_bias)
    m.update(test_acc=test.acc, min_task_acc=min(test.task_acc), val_loss=val.loss, val_acc=val.acc)
    m.update({f"task{j}_acc": a for j, a in enumerate(test.task_acc)})
    m.update(zombies=float(sum(graph.zombies)), comatose=float(sum(graph.comatose)))
    m.update({f"zombies_l{i + 1}": float(z) for i, z in enumerate(graph.zombies)})
    m.update({f"comatose_l{i + 1}": float(c) for i, c in enumerate(graph.comatose)})
    # A single task cannot split; only k >= 2 makes the question meaningful.
    m.update(split=float(graph.split and layout.k > 1), mixed=float(graph.mixed), components=float(len(graph.components)))
    m.update(tasks_connected=float(sum(graph.tasks_connected)))
    # The research log saw negative hidden biases disappear under IMP; count them per level.
    hidden_b = [(layer.bias * bm)[bm.bool()] for layer, bm in zip(model.layers[:-1], model.bias_masks()[:-1])]
    m.update(neg_hidden_biases=float(sum(int((b < 0).sum()) for b in hidden_b)))
    # ... and zombies living longer when their bias is large and positive: log their biases.
    zb = [layer.bias.detach().cpu().numpy()[z] for layer, (z, _c) in
          zip(model.layers[:-1], flags)]
    zb = np.concatenate(zb) if zb else np.zeros(0)
    m.update(zombie_bias_mean=float(zb.mean()) if zb.size else 0.0, zombie_bias_pos=float((zb > 0).sum()))
    return m, graph


def split_summary(history: Sequence[Mapping[str, float]], k: int, tolerance: float) -> dict[str, float]:
    """Per run: first split level and what the network looked like there, against the dense level 0.

    ``still_ticket`` is 1 when test accuracy at the split is within ``tolerance`` of the dense
    network's. The theoretical minimum removal that can split k equal tasks is P(k−1)/k.
    """
    dense = history[0]
    p0 = dense["prunable_total"]
    out = {
        "dense_test_acc": dense["test_acc"],
        "dense_min_task_acc": dense["min_task_acc"],
        "split_level": -1.0,
        "split_min_task_acc": 0.0,
        "split_test_acc": 0.0,
        "split_params": -1.0,
        "split_removed": -1.0,
        "still_ticket": 0.0,
        "theory_min_removed": p0 * (k - 1) / k,
        "theory_max_split_params": p0 / k,
    }
    for h in history:
        if h["split"] >= 1.0:
            out.update(
                split_level=h["level"],
                split_min_task_acc=h["min_task_acc"],
                split_test_acc=h["test_acc"],
                split_params=h["prunable"],
                split_removed=p0 - h["prunable"],
                still_ticket=float(h["test_acc"] >= dense["test_acc"] - tolerance),
            )
            out.update({f"split_task{j}_acc": h[f"task{j}_acc"] for j in range(k)})
            break
    return out


def trajectories(trained: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str], masks) -> np.ndarray:
    """[levels, n_weights] trained values, NaN where the weight is pruned (pruned weights are not logged)."""
    rows = []
    for state, mask in zip(trained, masks):
        v = torch.cat([state[n].flatten() for n in names]).double()
        m = torch.cat([mask[n].flatten() for n in names]).bool()
        rows.append(torch.where(m, v, torch.full_like(v, float("nan"))).cpu().numpy())
    return np.stack(rows)
