"""The neuron graph of a masked MLP: components, split, zombie and comatose neurons.

Definitions are docs/definitions.md's. Neurons are nodes, layer by layer (inputs first); a nonzero
weight joins two neurons. Biases do not join anything. With k concatenated tasks the
network is *split* when no connected component holds inputs or outputs of two different
tasks and every output of every task is reachable (along weights, forward) from an input
of its own task. A *zombie* is a hidden neuron with no incoming weights but live outgoing
ones; a *comatose* neuron has incoming weights but no outgoing ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GraphReport",
    "Component",
    "analyse_graph",
    "zombies_comatose",
    "zombie_comatose_flags",
    "components",
    "reachable_outputs",
]


@dataclass(frozen=True)
class Component:
    """A connected component that touches inputs or outputs, and the tasks it touches."""

    nodes: tuple[tuple[int, int], ...]  # (layer, neuron)
    input_tasks: tuple[int, ...]
    output_tasks: tuple[int, ...]

    @property
    def tasks(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.input_tasks) | set(self.output_tasks)))


@dataclass(frozen=True)
class GraphReport:
    """Everything the per-level analysis needs from the graph."""

    components: tuple[Component, ...]
    split: bool
    mixed: bool  # some component holds two tasks
    tasks_connected: tuple[bool, ...]  # task j's outputs all reachable from task j's inputs
    zombies: tuple[int, ...]  # per hidden layer
    comatose: tuple[int, ...]  # per hidden layer


def zombie_comatose_flags(masks: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per hidden layer: boolean (is_zombie, is_comatose) per neuron. ``masks[i]``: layer i's [out, in] mask."""
    flags = []
    for inc, out in zip(masks[:-1], masks[1:]):
        has_in = np.asarray(inc).any(axis=1)
        has_out = np.asarray(out).any(axis=0)
        flags.append((~has_in & has_out, has_in & ~has_out))
    return flags


def zombies_comatose(masks: list[np.ndarray]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per hidden layer: (#zombie, #comatose)."""
    return _counts(zombie_comatose_flags(masks))


def _counts(flags: list[tuple[np.ndarray, np.ndarray]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(int(z.sum()) for z, _ in flags), tuple(int(c.sum()) for _, c in flags)


def _offsets(masks: list[np.ndarray]) -> list[int]:
    sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
    return list(np.cumsum([0] + sizes))


def components(masks: list[np.ndarray]) -> list[list[tuple[int, int]]]:
    """Connected components of the undirected neuron graph (union-find), as (layer, neuron) lists."""
    off = _offsets(masks)
    parent = np.arange(off[-1])

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, m in enumerate(masks):
        outs, ins = np.nonzero(m)
        for o, n in zip(outs, ins):
            ra, rb = find(off[i] + n), find(off[i + 1] + o)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[tuple[int, int]]] = {}
    for layer in range(len(off) - 1):
        for n in range(off[layer + 1] - off[layer]):
            groups.setdefault(find(off[layer] + n), []).append((layer, n))
    return list(groups.values())


def reachable_outputs(masks: list[np.ndarray], sources: np.ndarray) -> np.ndarray:
    """Boolean [n_out]: which outputs a forward path of live weights reaches from ``sources`` (inputs)."""
    live = sources.astype(bool)
    for m in masks:
        live = (m[:, live] != 0).any(axis=1)
    return live


def analyse_graph(
    masks: list[np.ndarray],
    input_task: np.ndarray,
    output_task: np.ndarray,
    flags: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> GraphReport:
    """Components, split, zombies and comatose for weight masks of a concatenated-task MLP.

    ``flags``: :func:`zombie_comatose_flags` of these masks when the caller already has them.
    """
    masks = [np.asarray(m) != 0 for m in masks]
    last = len(masks)
    comps = []
    for nodes in components(masks):
        it = sorted({int(input_task[n]) for layer, n in nodes if layer == 0})
        ot = sorted({int(output_task[n]) for layer, n in nodes if layer == last})
        if it or ot:
            comps.append(Component(tuple(nodes), tuple(it), tuple(ot)))
    mixed = any(len(c.tasks) > 1 for c in comps)
    k = int(max(input_task.max(), output_task.max())) + 1
    connected = tuple(bool(reachable_outputs(masks, input_task == j)[output_task == j].all()) for j in range(k))
    z, c = _counts(flags if flags is not None else zombie_comatose_flags(masks))
    return GraphReport(tuple(comps), (not mixed) and all(connected), mixed, connected, z, c)
