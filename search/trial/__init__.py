"""One trial's life: suggested values to a core config, training (alone, as seed replicates, or
as members of a batched population), pruning and time limits, claims on a configuration so it
trains once, and the outcome told to the study.

Imports :mod:`search.store` and :mod:`search.studyfile`."""

from __future__ import annotations

from search.trial.claims import claim, repeat_result
from search.trial.facts import provenance
from search.trial.lifecycle import run_trials
from search.trial.objective import Objective, build_config
from search.trial.replicates import ReplicateReporter, combine, spread
from search.trial.reporter import Interrupted, TrialReporter, TrialRun, TrialTimeout

__all__ = [
    "build_config",
    "claim",
    "combine",
    "Interrupted",
    "Objective",
    "provenance",
    "repeat_result",
    "ReplicateReporter",
    "run_trials",
    "spread",
    "TrialReporter",
    "TrialRun",
    "TrialTimeout",
]
