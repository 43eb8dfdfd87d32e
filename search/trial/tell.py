"""How a trial's outcome reaches the study: recorded (metrics, artifacts, or why it failed), then told.

Shared by a trial alone and a population round (:mod:`search.trial.lifecycle`,
:mod:`search.trial.rounds`).
"""

from __future__ import annotations

import sys
from typing import Any

import optuna
from optuna.trial import TrialState

from search.trial.objective import Objective
from search.trial.reporter import TrialRun

__all__ = ["recorded", "tell", "told_without_training"]


def tell(study: optuna.Study, objective: Objective, run: TrialRun, outcome: list[float] | BaseException) -> bool:
    """Tell the study: values (COMPLETE), or PRUNED / FAIL for an exception (already recorded). A
    trial failed as stale meanwhile refuses the tell: said in one line, False, the worker goes on."""
    try:
        if isinstance(outcome, BaseException):
            state = TrialState.PRUNED if isinstance(outcome, optuna.TrialPruned) else TrialState.FAIL
            study.tell(run.trial, state=state)
        else:
            study.tell(run.trial, outcome[0] if len(outcome) == 1 else outcome)
        return True
    except Exception:
        if objective.taken_over(run.trial) is None:
            raise
        print(
            f"trial {run.trial.number} was failed as stale while it ran (its heartbeat "
            "stopped); its retry runs instead",
            file=sys.stderr,
            flush=True,
        )
        return False


def told_without_training(
    study: optuna.Study, objective: Objective, run: TrialRun, told: list[bool], configured: bool = False
) -> bool:
    """Configure ``run`` (unless ``configured``); tell it FAIL when its config is rejected, or as a
    repeat when its configuration has a COMPLETE trial (appending to ``told``). False: it must train."""
    try:
        if not configured:
            objective.configure(run)
        values = objective.repeat(run)  # a finished configuration is not trained again
    except Exception as err:  # noqa: BLE001  (a config the experiment rejects fails alone)
        objective.fail(run, err)
        told.append(tell(study, objective, run, err))
        return True
    if values is None:
        return False
    told.append(tell(study, objective, run, values))
    return True


def recorded(objective: Objective, run: TrialRun, outcome: Any) -> list[float] | BaseException:
    """Record a batched trial's outcome (its metrics and artifacts, or why it failed); its values or
    the exception to tell."""
    if not isinstance(outcome, BaseException):
        try:
            return objective.succeed(run, outcome)
        except Exception as err:  # noqa: BLE001  (a missing or non-finite metric fails this trial only)
            outcome = err
    objective.fail(run, outcome)
    return outcome
