"""The minimum cut between tasks (core.analysis.cut) on constructed graphs, against brute force and
against the graph's own ``mixed`` flag."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.analysis.cut import cut_summary, task_cut
from core.analysis.graph import analyse_graph


def _edges(masks):
    """(layer, out, in) of every live weight."""
    return [(i, o, n) for i, m in enumerate(masks) for o, n in zip(*np.nonzero(m))]


def _separated(masks, removed, input_task, output_task) -> bool:
    """No path between terminals of two tasks once ``removed`` weights are gone (an independent BFS)."""
    kept = [m.copy() for m in masks]
    for i, o, n in removed:
        kept[i][o, n] = False
    return not analyse_graph(kept, input_task, output_task).mixed


def _brute(masks, weights, input_task, output_task, groups=None):
    """(fewest weights, least |w| mass) whose removal separates ``groups`` of tasks (default: every task)."""
    it, ot = input_task, output_task
    if groups is not None:  # relabel: the group's tasks against the rest
        it, ot = (np.isin(input_task, groups)).astype(int), (np.isin(output_task, groups)).astype(int)
    edges = _edges(masks)
    best_n, best_m = None, np.inf
    for r in range(len(edges) + 1):
        for removed in itertools.combinations(edges, r):
            mass = sum(abs(weights[i][o, n]) for i, o, n in removed)
            if (best_n is None or mass < best_m) and _separated(masks, removed, it, ot):
                best_n = r if best_n is None else best_n
                best_m = min(best_m, mass)
    return best_n, best_m


def _random_net(rng, sizes, density):
    masks = [rng.random((b, a)) < density for a, b in zip(sizes[:-1], sizes[1:])]
    weights = [rng.normal(0, 1, (b, a)) * m for (a, b), m in zip(zip(sizes[:-1], sizes[1:]), masks)]
    return masks, weights


@pytest.mark.parametrize("c", [1, 2, 3, 5])
def test_a_two_task_graph_with_a_bottleneck_of_c_weights_has_cut_c(c):
    # Two blocks, each fully connected inside (4 -> 6 -> 6 -> 4 per task, 1.0 each), joined only by c
    # light weights from task 0's first hidden layer to task 1's second: the bottleneck.
    rng = np.random.default_rng(c)
    sizes = [4, 12, 12, 4]
    masks = [np.zeros((b, a), bool) for a, b in zip(sizes[:-1], sizes[1:])]
    for m in masks:
        h, w = m.shape
        m[: h // 2, : w // 2] = m[h // 2 :, w // 2 :] = True
    cross = rng.choice(36, size=c, replace=False)
    masks[1][6 + cross // 6, cross % 6] = True
    weights = [np.where(m, 1.0, 0.0) for m in masks]
    weights[1][6 + cross // 6, cross % 6] = light = rng.uniform(0.01, 0.2, size=c)
    it, ot = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    cut = task_cut(masks, weights, it, ot)
    assert cut.exact and cut.weights == c
    assert cut.mass == pytest.approx(light.sum(), abs=c * 2e-8 * sum(np.abs(w).sum() for w in weights))
    assert analyse_graph(masks, it, ot).mixed
    for i in range(c):  # removing the bridge weights one by one lowers the cut by one each time
        masks[1][6 + cross[i] // 6, cross[i] % 6] = False
        assert task_cut(masks, weights, it, ot).weights == c - i - 1
    assert not analyse_graph(masks, it, ot).mixed


@pytest.mark.parametrize("seed", range(12))
def test_two_task_cut_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    while True:  # 6..11 live weights: brute force stays cheap
        masks, weights = _random_net(rng, [4, 3, 4], 0.45)
        if 6 <= sum(int(m.sum()) for m in masks) <= 11:
            break
    it = ot = np.array([0, 0, 1, 1])
    n, mass = _brute(masks, weights, it, ot)
    cut = task_cut(masks, weights, it, ot)
    assert cut.weights == n
    assert cut.mass == pytest.approx(mass, abs=1e-6)
    assert cut.mass <= sum(abs(w).sum() for w in weights)


def test_three_tasks_isolating_cuts_on_a_constructed_graph():
    # One input and one output per task; input j -> hidden j -> output j; plus two bridges:
    # input 0 -> hidden 1 (tasks 0-1) and input 1 -> hidden 2 (tasks 1-2). Isolating cuts: task 0: 1,
    # task 1: 2, task 2: 1. The two smallest sum to 2, which is also the minimum multiway cut.
    w0 = np.eye(3)
    w0[1, 0] = 0.5
    w0[2, 1] = 0.25
    masks, weights = [w0 != 0, np.eye(3) != 0], [w0, np.eye(3)]
    tasks = np.array([0, 1, 2])
    cut = task_cut(masks, weights, tasks, tasks)
    assert not cut.exact and cut.weights == 2 and cut.mass == pytest.approx(0.75, abs=1e-6)
    for j, iso in enumerate((1, 2, 1)):
        assert _brute(masks, weights, tasks, tasks, groups=[j])[0] == iso
    assert _brute(masks, weights, tasks, tasks)[0] == 2


@pytest.mark.parametrize("seed", range(6))
def test_three_task_value_is_the_sum_of_the_two_smallest_isolating_cuts_and_within_its_bound(seed):
    rng = np.random.default_rng(100 + seed)
    while True:
        masks, weights = _random_net(rng, [3, 3, 3], 0.5)
        if 5 <= sum(int(m.sum()) for m in masks) <= 10:
            break
    tasks = np.array([0, 1, 2])
    cut = task_cut(masks, weights, tasks, tasks)
    iso = sorted(_brute(masks, weights, tasks, tasks, groups=[j])[0] for j in range(3))
    opt = _brute(masks, weights, tasks, tasks)[0]
    assert cut.weights == iso[0] + iso[1]
    assert opt <= cut.weights <= (2 - 2 / 3) * opt + 1e-9


@pytest.mark.parametrize("k", [2, 3])
def test_cut_is_zero_exactly_when_no_component_holds_two_tasks(k):
    rng = np.random.default_rng(k)
    seen = set()
    it, ot = np.repeat(np.arange(k), 2), np.repeat(np.arange(k), 2)
    sizes = [2 * k, 3 * k, 3 * k, 2 * k]
    for _ in range(300):
        # Block-diagonal by task (random density inside), plus random weights across the blocks.
        inside, across = rng.uniform(0.1, 0.9), rng.choice([0.0, 0.02, 0.1])
        masks, weights = _random_net(rng, sizes, across)
        for m, w, (a, b) in zip(masks, weights, zip(sizes[:-1], sizes[1:])):
            for j in range(k):
                rows, cols = slice(j * b // k, (j + 1) * b // k), slice(j * a // k, (j + 1) * a // k)
                m[rows, cols] = rng.random((b // k, a // k)) < inside
                w[rows, cols] = rng.normal(0, 1, (b // k, a // k)) * m[rows, cols]
        cut = task_cut(masks, weights, it, ot)
        graph = analyse_graph(masks, it, ot)
        assert (cut.weights == 0) == (not graph.mixed) == (cut.mass == 0)
        assert not graph.split or cut.weights == 0  # split implies cut 0 (not the reverse)
        seen.add((graph.mixed, graph.split))
    assert {(True, False), (False, False), (False, True)} <= seen, "both directions must be exercised"


def test_one_task_or_no_weight_has_cut_zero():
    masks, weights = _random_net(np.random.default_rng(0), [2, 4, 2], 1.0)
    assert task_cut(masks, weights, np.zeros(2, int), np.zeros(2, int)).weights == 0
    empty = [np.zeros_like(m) for m in masks]
    assert task_cut(empty, weights, np.array([0, 1]), np.array([0, 1])) == task_cut(
        empty, None, np.array([0, 1]), np.array([0, 1])
    )


def test_cut_summary_last_level_and_first_zero_with_its_censoring():
    hist = [{"level": float(i), "cut_weights": c, "cut_mass": c / 10} for i, c in enumerate([9.0, 4.0, 0.0, 0.0])]
    s = cut_summary(hist, k=2)
    assert s == {"cut_weights_last": 0.0, "cut_mass_last": 0.0, "cut_weights_dense": 9.0, "cut_level_zero": 2.0}
    assert cut_summary(hist[:2], k=2)["cut_level_zero"] == -1.0  # never reached 0 within its levels
    assert cut_summary(hist, k=1)["cut_level_zero"] == -1.0  # one task: nothing to separate


@pytest.mark.parametrize("seed", range(3))
def test_both_cuts_agree_with_networkx_float_max_flow_on_a_larger_graph(seed):
    nx = pytest.importorskip("networkx")  # torch's dependency; an independent max-flow to compare with
    rng = np.random.default_rng(seed)
    sizes = [6, 40, 30, 6]
    masks, weights = _random_net(rng, sizes, 0.15)
    it = ot = np.repeat([0, 1], 3)
    off = np.cumsum([0, *sizes])
    for unit in (True, False):
        g = nx.DiGraph()
        for i, (o, n) in ((i, on) for i, m in enumerate(masks) for on in zip(*np.nonzero(m))):
            c = 1.0 if unit else abs(float(weights[i][o, n]))
            g.add_edge(off[i] + n, off[i + 1] + o, capacity=c)
            g.add_edge(off[i + 1] + o, off[i] + n, capacity=c)
        for node in [*np.flatnonzero(it == 0), *(off[-2] + np.flatnonzero(ot == 0))]:
            g.add_edge("s", node)  # no capacity attribute: infinite
        for node in [*np.flatnonzero(it == 1), *(off[-2] + np.flatnonzero(ot == 1))]:
            g.add_edge(node, "t")
        expected = nx.minimum_cut_value(g, "s", "t") if g.has_node("s") and g.has_node("t") else 0.0
        cut = task_cut(masks, weights, it, ot)
        assert (cut.weights if unit else cut.mass) == pytest.approx(expected, rel=1e-7, abs=1e-9)
