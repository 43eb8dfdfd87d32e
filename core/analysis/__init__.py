"""Analysis of sparse networks: neuron graph, split, cut between tasks, zombie/comatose neurons, per-level metrics."""

from core.analysis.cut import TaskCut, cut_summary, task_cut
from core.analysis.graph import GraphReport, analyse_graph, components, zombies_comatose
from core.analysis.level import level_metrics, param_counts, split_summary, trajectories
from core.analysis.neurons import Episode, episodes, track_neurons

__all__ = [
    "Episode",
    "GraphReport",
    "TaskCut",
    "analyse_graph",
    "components",
    "cut_summary",
    "episodes",
    "task_cut",
    "track_neurons",
    "zombies_comatose",
    "level_metrics",
    "param_counts",
    "split_summary",
    "trajectories",
]
