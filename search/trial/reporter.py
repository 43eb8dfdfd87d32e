"""One trial in flight: its run record and its reporter (pruning, the launcher's stop, the time limit).

:class:`TrialReporter` is the core's Reporter for an Optuna trial: each step's metrics go to the
trial's history and, for a single-objective study, to ``trial.report`` and the pruner (through a
database outage); it raises :class:`Interrupted` when the launcher stops and :class:`TrialTimeout`
past ``resources.trial_timeout``. :class:`TrialRun` is what :class:`search.trial.objective.Objective`
and a population round carry per trial.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import optuna

from core import Diverged
from search.store import through_outage
from search.studyfile import StudySpec
from search.trial.replicates import ReplicateReporter

__all__ = ["Interrupted", "TrialReporter", "TrialRun", "TrialTimeout"]


class Interrupted(Exception):
    """The launcher asked the workers to stop; the running trial ends as FAIL."""


class TrialTimeout(Exception):
    """The trial ran longer than ``resources.trial_timeout``."""


class TrialReporter:
    """core Reporter → ``trial.report`` / pruning, plus the launcher's stop and the time limit."""

    def __init__(self, trial: optuna.Trial, spec: StudySpec, stop: threading.Event, started: float) -> None:
        self.trial, self.spec, self.stop, self.started = trial, spec, stop, started
        self.history: list[dict[str, float]] = []

    def check(self, step: int) -> None:
        """Raise when the launcher stops or the trial has run past ``resources.trial_timeout``."""
        if self.stop.is_set():
            raise Interrupted(f"interrupted by the launcher at step {step}")
        limit = self.spec.resources.trial_timeout_s
        if limit is not None and time.monotonic() - self.started > limit:
            raise TrialTimeout(f"exceeded trial_timeout of {limit:g} s at step {step}")

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        self.history.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        self.check(step)
        if self.spec.multi_objective:  # Optuna cannot prune multi-objective trials
            return
        value = metrics.get(self.spec.study.metrics[0])
        if value is None:
            return
        if not math.isfinite(value):
            raise Diverged(f"{self.spec.study.metrics[0]} is {value} at step {step}")
        # A database restart must not fail a trial that is training well: report through it.
        who, stopped = f"trial {self.trial.number}", self.stop.is_set
        through_outage(lambda: self.trial.report(float(value), step), who, stopped)
        if through_outage(self.trial.should_prune, who, stopped):
            raise optuna.TrialPruned(f"pruned at step {step} with {self.spec.study.metrics[0]}={value:.6g}")


@dataclasses.dataclass
class TrialRun:
    """One trial in flight: the Optuna trial, its reporter (which knows when it started), its config."""

    trial: optuna.Trial
    reporter: TrialReporter
    config: Any = None
    replicates: ReplicateReporter | None = None  # study.replicates > 1: the seeds' reports, averaged
