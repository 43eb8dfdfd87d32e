"""Analysis of sparse networks: neuron graph, split, zombie/comatose neurons, per-level metrics."""

from core.analysis.graph import GraphReport, analyse_graph, components, zombies_comatose
from core.analysis.level import level_metrics, param_counts, split_summary, trajectories

__all__ = [
    "GraphReport",
    "analyse_graph",
    "components",
    "zombies_comatose",
    "level_metrics",
    "param_counts",
    "split_summary",
    "trajectories",
]
