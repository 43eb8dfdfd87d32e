"""Lottery tickets: IMP levels, pruning scopes and count schedules, rewinding, one level's training."""

from core.lottery.config import AnalysisConfig, ImpConfig, ImpSection, ImpTrainConfig, MlpConfig, TasksConfig
from core.lottery.imp import LevelOutcome, run_imp
from core.lottery.pruning import SCOPES, keep_largest, prune_step
from core.lottery.schedules import SCHEDULES, count_schedule

__all__ = [
    "AnalysisConfig",
    "TasksConfig",
    "ImpConfig",
    "ImpSection",
    "MlpConfig",
    "ImpTrainConfig",
    "LevelOutcome",
    "run_imp",
    "SCOPES",
    "keep_largest",
    "prune_step",
    "SCHEDULES",
    "count_schedule",
]
