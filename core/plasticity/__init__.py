"""Structural plasticity: which synapses to drop (criteria), where to grow (growth), how many
(schedules), when (trigger), new values (init), and the one rewire step that applies them.
"""

from core.plasticity.controller import Plasticity
from core.plasticity.criteria import CRITERIA
from core.plasticity.growth import GROWTH
from core.plasticity.init import NEW_WEIGHTS
from core.plasticity.rewire import RewireError, counts_for_rate, rewire, select_top
from core.plasticity.schedules import SCHEDULES
from core.plasticity.stats import ks_to_normal, weight_entropy
from core.plasticity.target import TARGETS, Target, ks_to_target, target_of, w1_to_target
from core.plasticity.trigger import Trigger

__all__ = [
    "CRITERIA",
    "GROWTH",
    "NEW_WEIGHTS",
    "SCHEDULES",
    "TARGETS",
    "Target",
    "Plasticity",
    "RewireError",
    "Trigger",
    "counts_for_rate",
    "ks_to_normal",
    "rewire",
    "ks_to_target",
    "select_top",
    "target_of",
    "w1_to_target",
    "weight_entropy",
]
