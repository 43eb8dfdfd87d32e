"""Per-level analysis of a masked MLP: parameter counts, accuracies, graph, split summary.

Choose on validation, report on test (docs/definitions.md): every accuracy is computed on both the
validation rows (``val_<X>``) and the test rows (its twin ``test_<X>``); every decision of the
run (``still_ticket``, ``split_ticket``) and the objective a study optimises
(``val_split_min_task_acc``) read validation only, and the test twins are stored beside them
for the confirmation on test. Metrics that do not depend on rows (counts, split, zombies) carry
no prefix. Counts follow docs/definitions.md: *prunable* are the weights, and the biases when bias pruning is
on; the rest are non-prunable. Weights and biases are counted separately. ``n_params``
is the number of trainable parameters still unmasked (masked entries are exactly zero).
``cut_weights`` / ``cut_mass`` are the minimum cut between the tasks (:mod:`core.analysis.cut`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from core.analysis.cut import task_cut
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
    """Counts, val/test accuracy (overall, worst task, per task), zombies/comatose, split and cut of one level."""
    test = evaluate(model, data.test, data.layout)
    val = evaluate(model, data.val, data.layout)
    layout = data.layout
    wmasks = weight_masks_np(model)
    flags = zombie_comatose_flags(wmasks)  # one pass serves the graph's counts and the zombie biases
    tasks = (layout.input_task(), layout.output_task())
    graph = analyse_graph(wmasks, *tasks, flags=flags)
    m = param_counts(model, prune_bias)
    for prefix, ev in (("val", val), ("test", test)):
        m.update({f"{prefix}_loss": ev.loss, f"{prefix}_acc": ev.acc, f"{prefix}_min_task_acc": min(ev.task_acc)})
        m.update({f"{prefix}_task{j}_acc": a for j, a in enumerate(ev.task_acc)})
    m.update(zombies=float(sum(graph.zombies)), comatose=float(sum(graph.comatose)))
    m.update({f"zombies_l{i + 1}": float(z) for i, z in enumerate(graph.zombies)})
    m.update({f"comatose_l{i + 1}": float(c) for i, c in enumerate(graph.comatose)})
    # A single task cannot split; only k >= 2 makes the question meaningful.
    m.update(
        split=float(graph.split and layout.k > 1), mixed=float(graph.mixed), components=float(len(graph.components))
    )
    m.update(tasks_connected=float(sum(graph.tasks_connected)))
    # The graded distance to a split (core.analysis.cut): 0 exactly when ``mixed`` is 0.
    cut = task_cut(wmasks, [layer.weight.detach().cpu().numpy() for layer in model.layers], *tasks)
    m.update(cut_weights=float(cut.weights), cut_mass=cut.mass)
    # The research log saw negative hidden biases disappear under IMP; count them per level.
    hidden_b = [(layer.bias * bm)[bm.bool()] for layer, bm in zip(model.layers[:-1], model.bias_masks()[:-1])]
    m.update(neg_hidden_biases=float(sum(int((b < 0).sum()) for b in hidden_b)))
    # ... and zombies living longer when their bias is large and positive: log their biases.
    zb = [layer.bias.detach().cpu().numpy()[z] for layer, (z, _c) in zip(model.layers[:-1], flags)]
    zb = np.concatenate(zb) if zb else np.zeros(0)
    m.update(zombie_bias_mean=float(zb.mean()) if zb.size else 0.0, zombie_bias_pos=float((zb > 0).sum()))
    return m, graph


def _is_ticket(h: Mapping[str, float], dense: Mapping[str, float], rows: str, tolerance: float) -> bool:
    return h[f"{rows}_acc"] >= dense[f"{rows}_acc"] - tolerance


def split_summary(history: Sequence[Mapping[str, float]], k: int, tolerance: float) -> dict[str, float]:
    """Per run: first split level and what the network looked like there, against the dense level 0.

    ``split_level`` is the first level whose graph is split (docs/definitions.md), or -1.0 when no level
    run is split (censored: the network did not split within ``levels_done`` levels; count it
    as "not split by level L" for every L, never average it as a level). ``split_params`` and
    ``split_removed`` are -1.0 then, and the accuracies at the split are 0.0.

    Decided on validation rows: ``still_ticket`` is 1.0 when the validation accuracy at the first
    split level is within ``tolerance`` of the dense network's validation accuracy (0.0 when it
    never splits). ``split_ticket`` is 1.0 when some level is split and a ticket in that sense
    (the network split into one subnetwork per task while still a ticket; its mean over seeds is
    the fraction of seeds that do); it can be 1.0 with ``still_ticket`` 0.0 when a later split
    level recovers. ``test_still_ticket`` and ``test_split_ticket`` are the same decisions on
    the test rows, stored for confirmation only. The objective ``val_split_min_task_acc`` is the
    worst task's validation accuracy at the first split (0.0 when it never splits); its test
    twin is ``test_split_min_task_acc``. The theoretical minimum removal that can split k equal
    tasks is P(k−1)/k.
    """
    dense = history[0]
    p0 = dense["prunable_total"]
    out = {
        "split_level": -1.0,
        "split_params": -1.0,
        "split_removed": -1.0,
        "theory_min_removed": p0 * (k - 1) / k,
        "theory_max_split_params": p0 / k,
    }
    first = next((h for h in history if h["split"] >= 1.0), None)
    if first is not None:
        out.update(split_level=first["level"], split_params=first["prunable"], split_removed=p0 - first["prunable"])
    for rows in ("val", "test"):
        out[f"{rows}_dense_acc"] = dense[f"{rows}_acc"]
        out[f"{rows}_dense_min_task_acc"] = dense[f"{rows}_min_task_acc"]
        out[f"{rows}_split_acc"] = first[f"{rows}_acc"] if first else 0.0
        out[f"{rows}_split_min_task_acc"] = first[f"{rows}_min_task_acc"] if first else 0.0
        out.update({f"{rows}_split_task{j}_acc": first[f"{rows}_task{j}_acc"] if first else 0.0 for j in range(k)})
        tag = "" if rows == "val" else "test_"
        out[f"{tag}still_ticket"] = float(first is not None and _is_ticket(first, dense, rows, tolerance))
        out[f"{tag}split_ticket"] = float(
            any(h["split"] >= 1.0 and _is_ticket(h, dense, rows, tolerance) for h in history)
        )
    return out


def trajectories(trained: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str], masks) -> np.ndarray:
    """[levels, n_weights] trained values, NaN where the weight is pruned (pruned weights are not logged)."""
    rows = []
    for state, mask in zip(trained, masks):
        v = torch.cat([state[n].flatten() for n in names]).double()
        m = torch.cat([mask[n].flatten() for n in names]).bool()
        rows.append(torch.where(m, v, torch.full_like(v, float("nan"))).cpu().numpy())
    return np.stack(rows)
