"""Split, zombie and comatose detection on hand-built masks, and on random masks against BFS."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from core.analysis.graph import analyse_graph, zombies_comatose

IN2 = np.array([0, 0, 1, 1])  # two tasks, two inputs each
OUT2 = np.array([0, 0, 1, 1])  # two logits each


def _block_masks():
    """4 → 4 → 4 with task 0 on neurons 0-1 and task 1 on neurons 2-3 everywhere: split."""
    block = np.zeros((4, 4), bool)
    block[:2, :2] = True
    block[2:, 2:] = True
    return [block.copy(), block.copy()]


def test_block_diagonal_network_is_split():
    r = analyse_graph(_block_masks(), IN2, OUT2)
    assert r.split and not r.mixed and r.tasks_connected == (True, True)
    assert sorted(c.tasks for c in r.components) == [(0,), (1,)]
    assert r.zombies == (0,) and r.comatose == (0,)


def test_one_cross_weight_joins_the_tasks():
    masks = _block_masks()
    masks[1][3, 0] = True  # hidden 0 (task 0) feeds output 3 (task 1)
    r = analyse_graph(masks, IN2, OUT2)
    assert not r.split and r.mixed and len(r.components) == 1


def test_disconnected_output_is_not_a_split():
    masks = _block_masks()
    masks[1][3, :] = False  # output 3 (task 1) lost all its inputs
    r = analyse_graph(masks, IN2, OUT2)
    assert not r.mixed and not r.split and r.tasks_connected == (True, False)


def test_zombie_and_comatose_by_hand():
    # 2 inputs → 3 hidden → 2 outputs.
    w0 = np.array([[1, 0], [0, 0], [1, 1]], bool)  # hidden 1 has no incoming weight
    w1 = np.array([[1, 1, 0], [0, 1, 0]], bool)  # hidden 2 has no outgoing weight
    assert zombies_comatose([w0, w1]) == ((1,), (1,))
    # a fully isolated neuron is neither
    w1[:, 1] = False
    assert zombies_comatose([w0, w1]) == ((0,), (1,))


def test_output_fed_only_by_a_zombie_is_unreachable():
    # task 0: input 0 → hidden 0 → output 0; output 1 gets only zombie hidden 1.
    w0 = np.array([[1, 0], [0, 0]], bool)
    w1 = np.array([[1, 0], [0, 1]], bool)
    r = analyse_graph([w0, w1], np.array([0, 0]), np.array([0, 0]))
    assert r.zombies == (1,) and r.tasks_connected == (False,)


# ---- random masks against an independent BFS written here --------------------------------


def _bfs_reference(masks, in_task, out_task):
    sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
    nodes = [(l, n) for l, s in enumerate(sizes) for n in range(s)]
    adj = {v: set() for v in nodes}
    fwd = {v: set() for v in nodes}
    for l, m in enumerate(masks):
        for o in range(m.shape[0]):
            for i in range(m.shape[1]):
                if m[o, i]:
                    adj[(l, i)].add((l + 1, o))
                    adj[(l + 1, o)].add((l, i))
                    fwd[(l, i)].add((l + 1, o))
    seen, mixed = set(), False
    last = len(masks)
    for v in nodes:
        if v in seen:
            continue
        comp, queue = {v}, deque([v])
        while queue:
            for w in adj[queue.popleft()]:
                if w not in comp:
                    comp.add(w)
                    queue.append(w)
        seen |= comp
        tasks = {in_task[n] for l, n in comp if l == 0} | {out_task[n] for l, n in comp if l == last}
        mixed |= len(tasks) > 1
    connected = []
    for t in sorted(set(in_task) | set(out_task)):
        reach = {(0, n) for n in range(sizes[0]) if in_task[n] == t}
        queue = deque(reach)
        while queue:
            for w in fwd[queue.popleft()]:
                if w not in reach:
                    reach.add(w)
                    queue.append(w)
        connected.append(all((last, n) in reach for n in range(sizes[-1]) if out_task[n] == t))
    zomb = [
        sum(1 for n in range(sizes[l]) if not masks[l - 1][n].any() and masks[l][:, n].any()) for l in range(1, last)
    ]
    coma = [
        sum(1 for n in range(sizes[l]) if masks[l - 1][n].any() and not masks[l][:, n].any()) for l in range(1, last)
    ]
    return (not mixed) and all(connected), mixed, tuple(connected), tuple(zomb), tuple(coma)


_SEEN_SPLIT: list[bool] = []


@pytest.mark.parametrize("seed", range(40))
def test_random_masks_agree_with_bfs(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 4))
    widths = list(rng.integers(2, 9, size=rng.integers(1, 4)))
    sizes = [2 * k, *widths, 2 * k]
    blocky = seed % 3 == 0  # block-structured dense masks: splits become likely
    density = 0.85 if blocky else rng.choice([0.05, 0.15, 0.3, 0.6])
    masks = [rng.random((b, a)) < density for a, b in zip(sizes[:-1], sizes[1:])]
    if blocky:
        for m in masks:
            rows = np.arange(m.shape[0]) * k // m.shape[0]
            cols = np.arange(m.shape[1]) * k // m.shape[1]
            m &= rows[:, None] == cols[None, :]
    in_task = np.repeat(np.arange(k), 2)
    out_task = np.repeat(np.arange(k), 2)
    r = analyse_graph(masks, in_task, out_task)
    _SEEN_SPLIT.append(r.split)
    assert (r.split, r.mixed, r.tasks_connected, r.zombies, r.comatose) == _bfs_reference(masks, in_task, out_task)


def test_random_cases_include_splits_and_non_splits():
    # Guard against a vacuous comparison: the random cases must exercise both answers.
    if len(_SEEN_SPLIT) < 40:
        pytest.skip("run together with test_random_masks_agree_with_bfs")
    assert any(_SEEN_SPLIT) and not all(_SEEN_SPLIT)


def test_level_metrics_counts_parameters_and_zombie_biases():
    import torch

    from core.analysis.level import level_metrics
    from core.data.tasks import SplitData, concat_tasks, split_rows
    from core.nets.mlp import MaskedMLP

    x, y, layout = concat_tasks(["moons"] * 2, 60, 0.1, seed=0)
    data = SplitData(*split_rows(x, y, 0.25, 0.25, seed=0), layout)
    torch.manual_seed(0)
    model = MaskedMLP(4, (3,), 4)
    w0 = torch.ones(3, 4)
    w0[1] = 0  # hidden 1: no incoming weights, outgoing kept → zombie
    w1 = torch.ones(4, 3)
    w1[:, 2] = 0  # hidden 2: incoming kept, no outgoing → comatose
    b0 = torch.ones(3)
    b0[0] = 0  # one pruned hidden bias
    model.set_masks({"layers.0.weight": w0, "layers.1.weight": w1, "layers.0.bias": b0})
    with torch.no_grad():
        model.layers[0].bias.copy_(torch.tensor([0.0, 0.7, -0.2]))
    m, _ = level_metrics(model, data, prune_bias=True)
    assert (m["weights"], m["biases"], m["n_params"]) == (8 + 8, 2 + 4, 22)
    assert m["prunable"] == 22 and m["nonprunable"] == 0 and m["prunable_total"] == 12 + 12 + 7
    assert (m["zombies"], m["comatose"], m["zombie_bias_pos"]) == (1, 1, 1)
    assert m["zombie_bias_mean"] == pytest.approx(0.7)
    assert m["neg_hidden_biases"] == 1  # -0.2 on the comatose neuron; the pruned bias is not counted
    m, _ = level_metrics(model, data, prune_bias=False)
    assert m["prunable"] == 16 and m["nonprunable"] == 6
